"""Plain dicts to DynamoDB items and back, and the small expression builders the catalog uses."""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from ..errors import BadRequest
from ..models import Upload, User
from .records import upload_from_dict, user_from_dict

_serializer, _deserializer = TypeSerializer(), TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    """Floats become Decimals (DynamoDB numbers), recursively; repr keeps every digit."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadRequest("Numbers must be finite.", code="bad_number")
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    """Decimals back to ints or floats (an integral float comes back as an equal int)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def attr(value: Any) -> dict[str, Any]:
    """One DynamoDB attribute value; BadRequest for what DynamoDB cannot hold."""
    try:
        return _serializer.serialize(_to_dynamo(value))
    except (TypeError, ArithmeticError) as exc:  # unknown types; numbers out of DynamoDB's range
        raise BadRequest(f"A value cannot be stored: {exc}", code="bad_value") from exc


def to_item(doc: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item from a plain dict; None attributes are left out."""
    return {k: attr(v) for k, v in doc.items() if v is not None}


def to_doc(item: dict[str, Any]) -> dict[str, Any]:
    """A plain dict from a DynamoDB item."""
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}


def s(value: str) -> dict[str, str]:
    return {"S": value}


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def updates(changes: dict[str, Any]) -> dict[str, Any]:
    """UpdateExpression and its placeholders: SET each value, REMOVE each None."""
    names = {f"#a{i}": name for i, name in enumerate(changes)}
    values = {f":v{i}": attr(v) for i, v in enumerate(changes.values()) if v is not None}
    sets = ", ".join(f"#a{i} = :v{i}" for i, v in enumerate(changes.values()) if v is not None)
    removes = ", ".join(f"#a{i}" for i, v in enumerate(changes.values()) if v is None)
    expression = " ".join(part for part in (sets and f"SET {sets}", removes and f"REMOVE {removes}") if part)
    return {"UpdateExpression": expression, "ExpressionAttributeNames": names} | (
        {"ExpressionAttributeValues": values} if values else {})


def to_user(item: dict[str, Any]) -> User:
    return user_from_dict(to_doc(item))


def to_upload(item: dict[str, Any]) -> Upload:
    doc = to_doc(item)
    doc["user_id"], doc["id"] = doc.pop("userId"), doc.pop("uploadId")
    return upload_from_dict(doc)
