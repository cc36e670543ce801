"""The DynamoDB wire shapes generated code speaks (the low-level client's, not the resource's)."""

from typing import Any

AttributeValue = dict[str, Any]  # {"S": "..."}, {"N": "12"}, {"M": {...}}, ...
Item = dict[str, AttributeValue]
Key = dict[str, AttributeValue]
