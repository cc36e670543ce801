"""Distinct schema names that would generate the same Python name are errors (DG217)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynamorm_gen.compiler.errors import CompileError
from dynamorm_gen.compiler.project import Project, compile_project

SCHEMA = """\
version: 1
tables:
  app-x: {keys: {pk: PK, sk: SK}}
  app_x: {keys: {pk: PK, sk: SK}}
entities:
  AB:
    table: app-x
    key: {pk: "A#{id}", sk: "A"}
    attributes:
      id: {type: string}
      kind: {type: enum, values: [a]}
    access_patterns:
      by_id: {}
  Ab:
    table: app-x
    key: {pk: "A#{id}", sk: "B"}
    attributes:
      id: {type: string}
  ABKind:
    table: app_x
    key: {pk: "C#{id}", sk: "C"}
    attributes:
      id: {type: string}
collections:
  ab_by_id: {entities: [AB, Ab]}
"""


def test_generated_name_collisions_are_reported_once_each(tmp_path: Path) -> None:
    schema = tmp_path / "names.yaml"
    schema.write_text(SCHEMA)
    project = Project(root=tmp_path, schemas=(schema,), output=tmp_path / "out")
    with pytest.raises(CompileError) as failure:
        compile_project(project)
    lines = [d.format().splitlines()[0] for d in failure.value.diagnostics]
    assert lines == [
        "names.yaml:4:3: error[DG217] table 'app_x' and table 'app-x' both generate"
        " APP_X, AppXTable (module level)",
        "names.yaml:14:3: error[DG217] entity 'Ab' and entity 'AB' both generate"
        " put_ab, get_ab, delete_ab, batch_get_ab, batch_delete_ab, scan_ab, iter_scan_ab,"
        " tx_put_ab, tx_delete_ab, tx_check_ab, tx_get_ab, batch_put_ab"
        " (methods of AppXTable)",
        "names.yaml:19:3: error[DG217] entity 'ABKind' and attribute AB.kind both generate"
        " ABKind (module level)",
        "names.yaml:25:3: error[DG217] collection 'ab_by_id' and access pattern AB.by_id"
        " both generate query_ab_by_id, iter_ab_by_id (methods of AppXTable)",
    ]
    assert not (tmp_path / "out").exists()


def test_update_builder_method_collisions_are_reported(tmp_path: Path) -> None:
    schema = tmp_path / "notes.yaml"
    schema.write_text(
        """\
version: 1
tables:
  notes: {keys: {pk: PK}, indexes: {GSI1: {keys: {pk: GSI1PK}}}}
entities:
  Note:
    table: notes
    key: {pk: "NOTE#{note_id}"}
    indexes:
      GSI1: {pk: "TOPIC#{topic_if_absent}"}
    attributes:
      note_id: {type: string}
      topic: {type: string}
      topic_if_absent: {type: string}
"""
    )
    project = Project(root=tmp_path, schemas=(schema,), output=tmp_path / "out")
    with pytest.raises(CompileError) as failure:
        compile_project(project)
    lines = [d.format().splitlines()[0] for d in failure.value.diagnostics]
    assert lines == [
        "notes.yaml:13:7: error[DG217] attribute Note.topic_if_absent and attribute"
        " Note.topic both generate set_topic_if_absent (methods of NoteUpdate)",
    ]
