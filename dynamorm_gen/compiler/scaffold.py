"""What `dynamorm-gen init` writes: a config and a commented example schema."""

EXAMPLE_CONFIG = """\
# dynamorm-gen project settings; paths are relative to this file.
schemas: schemas        # a folder of *.yaml files, or a list of files and folders
output: generated       # where generated modules go (commit them; CI runs build --check)
"""

EXAMPLE_SCHEMA = """\
# An example schema. The language is documented in docs/reference/schema.md.
version: 1

tables:
  app:                              # logical name; the physical name comes from $APP_TABLE,
    keys: {pk: PK, sk: SK}          # else $DYNAMORM_TABLE_PREFIX + "app"
    indexes:
      GSI1: {keys: {pk: GSI1PK, sk: GSI1SK}}
    billing: on_demand

entities:
  User:
    table: app
    key: {pk: "USER#{user_id}", sk: "PROFILE"}          # key templates over attributes
    indexes:
      GSI1: {pk: "EMAIL#{email}", sk: "USER"}
    attributes:
      user_id: {type: string, generate: ulid}
      email: {type: string, pattern: "[^@]+@[^@]+"}
      name: {type: string, max_length: 100}
      plan: {type: enum, values: [free, pro], default: free}
      created_at: {type: datetime, auto: create}
    access_patterns:
      by_email: {index: GSI1}                           # query_user_by_email(email=...)

  Note:
    table: app
    key: {pk: "USER#{user_id}", sk: "NOTE#{note_id}"}
    attributes:
      user_id: {type: string}
      note_id: {type: string, generate: ulid}
      text: {type: string}
      tags: {type: string_set}
    access_patterns:
      for_user: {sk: {begins_with: "NOTE#"}, order: desc}
"""
