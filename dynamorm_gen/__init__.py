"""dynamorm-gen: a schema compiler for Amazon DynamoDB.

Importing this package imports nothing else: the compiler lives in ``dynamorm_gen.compiler``
(jinja2, yaml, jsonschema) and the Lambda runtime in ``dynamorm_gen.runtime`` (standard library,
botocore only when a client is created).
"""

__version__ = "0.1.0"
