"""Avro writers and readers generated per contract: the domain event straight to its Avro body and back.

fastavro writes and reads dicts, so the generic path turns an event into a dict (`to_record`), checks it
in a second pass (fastavro's `validate`, the logical-type checks), writes it, and on the way back reads
a dict and rebuilds the dataclasses from their type hints (`from_record`). Here each contract's schema
and its event's dataclasses are turned once into Python source: a writer that walks the event's
attributes, checks every value at least as strictly as that validation and writes the bytes fastavro
writes, and a reader that builds the dataclasses from the bytes as `from_record` would.

Generated for what the contracts use: records, nullable unions (`["null", T]`), arrays, maps, enums,
strings, bytes, booleans, ints, longs, floats, doubles, and the logical types uuid, date,
timestamp-millis and decimal (as bytes). A contract with anything else, or whose dataclass fields are
not exactly its schema's, gets nothing generated (`compile_contract` returns None) and the codec uses
fastavro for it. Anything the generated writer or reader does not accept raises; the codec then takes
the generic path, which writes or refuses the event, naming the field and the rule.
"""

from __future__ import annotations

import dataclasses
import decimal
import struct
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

from contracts.convert import from_epoch_ms, to_epoch_ms
from contracts.validation import CHECKS
from domain.events import DomainEvent, RecordedEvent

_EPOCH_DAY = date(1970, 1, 1).toordinal()
_LIMITS = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "string", "bytes"})
_LOGICAL = frozenset({"uuid", "date", "timestamp-millis", "decimal"})  # others are their underlying type


class Unsupported(Exception):
    """A schema (or the dataclass it maps to) the generator does not cover."""


@dataclass(frozen=True)
class Compiled:
    """A contract's generated functions: `write(recorded, out)` appends the Avro body to a bytearray;
    `read(value, start)` builds the RecordedEvent from the body that begins at `start`."""

    write: Callable[[RecordedEvent, bytearray], None]
    read: Callable[[bytes, int], RecordedEvent]


def compile_contract(schema: Mapping[str, Any], event_type: type[DomainEvent]) -> Compiled | None:
    """The generated writer and reader of an event contract, or None when it uses what is not covered."""
    try:
        return _Generator().contract(schema, event_type)
    except Unsupported:
        return None


# Helpers the generated code calls (kept out of it so each is written once).


def _write_long(out: bytearray, n: int) -> None:
    n = (n << 1) ^ (n >> 63)  # zigzag
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _read_long(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """The rest of a varint whose first byte (already read, with its continuation bit set) is `first`."""
    n, shift = first & 0x7F, 7
    while True:
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (n >> 1) ^ -(n & 1), pos
        shift += 7


def _decimal_bytes(value: decimal.Decimal, scale: int) -> bytes:
    """fastavro's encoding of a decimal as bytes: the unscaled value, big-endian two's complement."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    unscaled = int("".join(map(str, digits))) * int(10 ** (exponent + scale))  # scale checked: exponent + scale >= 0
    size = (unscaled.bit_length() + 8) // 8
    return (-unscaled if sign else unscaled).to_bytes(size, byteorder="big", signed=True)


def _decimal_of(data: bytes, precision: int, scale: int) -> decimal.Decimal:
    """fastavro's reading of a decimal from bytes."""
    context = decimal.Context(prec=precision)
    return context.create_decimal(int.from_bytes(data, byteorder="big", signed=True)).scaleb(-scale, context)


class Refused(Exception):
    """The generated writer does not accept a value (the generic path then says why)."""


_HELPERS: dict[str, Any] = {
    "_write_long": _write_long,
    "_read_long": _read_long,
    "_decimal_bytes": _decimal_bytes,
    "_decimal_of": _decimal_of,
    "_to_epoch_ms": to_epoch_ms,
    "_from_epoch_ms": from_epoch_ms,
    "Refused": Refused,
    "_pack_double": struct.Struct("<d").pack,
    "_pack_float": struct.Struct("<f").pack,
    "_unpack_double": struct.Struct("<d").unpack_from,
    "_unpack_float": struct.Struct("<f").unpack_from,
    "_Mapping": Mapping,
    "_UUID": UUID,
    "_date": date,
    "_datetime": datetime,
    "_fromordinal": date.fromordinal,
    "_Decimal": decimal.Decimal,
    "_EPOCH_DAY": _EPOCH_DAY,
    "_RecordedEvent": RecordedEvent,
}


def _unwrap(hint: Any) -> Any:
    """The type an optional hint stands for; other unions are not covered."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(members) != 1:
            raise Unsupported(f"union {hint}")
        return members[0]
    return hint


class _Generator:
    """Emits the source of one contract's functions; `self.names` are the globals they see."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = dict(_HELPERS)
        self.functions: list[str] = []
        self.records: dict[str, str] = {}  # record full name -> suffix of its w_/r_ functions
        self.schemas: dict[str, Any] = {}  # named types by full name, as met
        self.counter = 0

    def contract(self, schema: Mapping[str, Any], event_type: type[DomainEvent]) -> Compiled:
        meta, *fields = schema["fields"]
        if meta["name"] != "meta":  # written first, as RecordedEvent's first part
            raise Unsupported("meta is not the first field")
        namespace = str(schema.get("namespace", ""))
        meta_schema = self._named(meta["type"], namespace)
        meta_type = typing.get_type_hints(RecordedEvent)["meta"]
        meta_fn = self.record(meta_schema, meta_type, namespace)
        event_fn = self.record({**schema, "fields": fields}, event_type, namespace)
        self.functions.append(
            "def write(recorded, out):\n"
            "    meta, event = recorded.meta, recorded.event\n"
            f"    if type(meta) is not {self.name_of(meta_type)} or type(event) is not {self.name_of(event_type)}:\n"
            "        raise Refused\n"
            f"    w_{meta_fn}(meta, out)\n"
            f"    w_{event_fn}(event, out)\n"
        )
        self.functions.append(
            "def read(data, pos):\n"
            f"    meta, pos = r_{meta_fn}(data, pos)\n"
            f"    event, pos = r_{event_fn}(data, pos)\n"
            "    return _RecordedEvent(meta=meta, event=event)\n"
        )
        scope: dict[str, Any] = dict(self.names)
        exec("\n".join(self.functions), scope)  # noqa: S102  # source generated above from the contract
        return Compiled(scope["write"], scope["read"])

    def name_of(self, value: Any) -> str:
        """A global name for `value` in the generated code."""
        self.counter += 1
        name = f"_g{self.counter}"
        self.names[name] = value
        return name

    def _named(self, schema: Any, namespace: str) -> Any:
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
            if full not in self.schemas:
                raise Unsupported(f"unknown named type {schema}")
            return self.schemas[full]
        return schema

    def record(self, schema: Mapping[str, Any], cls: Any, namespace: str) -> str:
        """The suffix of the w_/r_ functions of a record schema mapped to dataclass `cls`."""
        full = str(schema["name"])
        namespace = str(schema.get("namespace", namespace))
        if "." not in full and namespace:
            full = f"{namespace}.{full}"
        self.schemas[full] = schema
        if full in self.records:
            return self.records[full]
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise Unsupported(f"{full} maps to {cls!r}, not a dataclass")
        hints = typing.get_type_hints(cls)
        names = [f["name"] for f in schema["fields"]]
        if sorted(names) != sorted(f.name for f in dataclasses.fields(cls)):
            raise Unsupported(f"{full}: fields differ from {cls.__name__}'s")  # (so every name is an identifier)
        suffix = self.records[full] = str(len(self.records))
        inner = full.rpartition(".")[0]
        write = [f"def w_{suffix}(o, out):"]
        read = [f"def r_{suffix}(data, pos):"]
        for field in schema["fields"]:
            name = field["name"]
            write.append(f"    v = o.{name}")
            write += self.writer(field["type"], hints[name], "v", inner, 1)
            read += self.reader(field["type"], hints[name], f"f_{name}", inner, 1)
        arguments = ", ".join(f"{name}=f_{name}" for name in names)
        read.append(f"    return {self.name_of(cls)}({arguments}), pos")
        self.functions += ["\n".join(write) + "\n", "\n".join(read) + "\n"]
        return suffix

    # -- writing: lines that check `var` and append its bytes to `out` --

    def writer(self, schema: Any, hint: Any, var: str, namespace: str, depth: int) -> list[str]:
        schema = self._named(schema, namespace)
        if isinstance(schema, list):
            return self._write_union(schema, hint, var, namespace, depth)
        if isinstance(schema, str):
            schema = {"type": schema}
        if schema.get("logicalType") in _LOGICAL:
            return self._write_logical(schema, var, namespace, depth)
        return self._write_plain(schema, _unwrap(hint), var, namespace, depth)

    def _write_logical(self, schema: dict[str, Any], var: str, namespace: str, depth: int) -> list[str]:
        pad = "    " * depth
        kind, logical = schema["type"], schema["logicalType"]
        if logical == "uuid" and kind == "string":
            return [
                f"{pad}if type({var}) is _UUID:",
                f"{pad}    out += b'\\x48'",  # 36, zigzagged: a UUID's text is 36 characters
                f"{pad}    out += str({var}).encode()",
                f"{pad}else:",
                f"{pad}    _UUID({var})",  # text that is no UUID raises (as would anything but text)
                *self.writer("string", str, var, namespace, depth + 1),
            ]
        if logical == "timestamp-millis" and kind == "long":
            return [
                f"{pad}if type({var}) is not _datetime or {var}.tzinfo is None: raise Refused",
                f"{pad}_write_long(out, _to_epoch_ms({var}))",
            ]
        if logical == "date" and kind == "int":
            return [
                f"{pad}if type({var}) is not _date: raise Refused",
                f"{pad}_write_long(out, {var}.toordinal() - _EPOCH_DAY)",
            ]
        if logical == "decimal" and kind == "bytes":
            check = self.name_of(lambda value, s=dict(schema): CHECKS["decimal"](value, s))
            return [
                f"{pad}if type({var}) is not _Decimal or {check}({var}) is not None: raise Refused",
                f"{pad}b = _decimal_bytes({var}, {int(schema.get('scale', 0))})",
                *_sized("b", pad),
            ]
        raise Unsupported(f"{logical} on {kind}")

    def _write_plain(self, schema: dict[str, Any], base: Any, var: str, namespace: str, depth: int) -> list[str]:
        pad, kind = "    " * depth, schema["type"]
        match kind:
            case "null":
                return [f"{pad}if {var} is not None: raise Refused"]
            case "boolean":
                return [
                    f"{pad}if {var} is True: out.append(1)",
                    f"{pad}elif {var} is False: out.append(0)",
                    f"{pad}else: raise Refused",
                ]
            case "int" | "long":
                low, high = _LIMITS[kind]
                return [
                    f"{pad}if type({var}) is not int or not {low} <= {var} <= {high}: raise Refused",
                    f"{pad}_write_long(out, {var})",
                ]
            case "float" | "double":
                return [
                    f"{pad}if type({var}) is not float: raise Refused",
                    f"{pad}out += _pack_{kind}({var})",
                ]
            case "string":
                return [
                    f"{pad}if type({var}) is not str: raise Refused",
                    f"{pad}b = {var}.encode()",
                    *_sized("b", pad),
                ]
            case "bytes":
                return [
                    f"{pad}if type({var}) is not bytes: raise Refused",
                    *_sized(var, pad),
                ]
            case "enum":
                index: dict[Any, int] = {}
                for i, symbol in enumerate(schema["symbols"]):
                    index[symbol] = i
                    if isinstance(base, type) and issubclass(base, Enum):
                        index[base(symbol)] = i
                table = self.name_of(index)
                return [
                    f"{pad}i = {table}.get({var})",
                    f"{pad}if i is None: raise Refused",
                    f"{pad}_write_long(out, i)",
                ]
            case "array":
                item = f"x{depth}"
                item_hint = _item_hint(base)
                return [
                    f"{pad}if type({var}) not in (tuple, list, frozenset, set): raise Refused",
                    f"{pad}if {var}:",
                    f"{pad}    _write_long(out, len({var}))",
                    f"{pad}    for {item} in {var}:",
                    *self.writer(schema["items"], item_hint, item, namespace, depth + 2),
                    f"{pad}out.append(0)",
                ]
            case "map":
                key, item = f"k{depth}", f"x{depth}"
                return [
                    f"{pad}if not isinstance({var}, _Mapping): raise Refused",
                    f"{pad}if {var}:",
                    f"{pad}    _write_long(out, len({var}))",
                    f"{pad}    for {key}, {item} in {var}.items():",
                    *self.writer("string", str, key, namespace, depth + 2),
                    *self.writer(schema["values"], _value_hint(base), item, namespace, depth + 2),
                    f"{pad}out.append(0)",
                ]
            case "record":
                suffix = self.record(schema, base, namespace)
                return [
                    f"{pad}if type({var}) is not {self.name_of(base)}: raise Refused",
                    f"{pad}w_{suffix}({var}, out)",
                ]
        raise Unsupported(f"type {kind}")

    def _write_union(self, branches: list[Any], hint: Any, var: str, namespace: str, depth: int) -> list[str]:
        pad = "    " * depth
        if len(branches) != 2 or "null" not in branches:
            raise Unsupported(f"union {branches}")
        null = branches.index("null")
        other = branches[1 - null]
        return [
            f"{pad}if {var} is None: out.append({null * 2})",
            f"{pad}else:",
            f"{pad}    out.append({(1 - null) * 2})",
            *self.writer(other, _unwrap(hint), var, namespace, depth + 1),
        ]

    # -- reading: lines that read the next value into `target`, advancing `pos` --

    def _long(self, target: str, pad: str) -> list[str]:
        return [
            f"{pad}n = data[pos]",
            f"{pad}pos += 1",
            f"{pad}if n & 0x80: {target}, pos = _read_long(data, pos, n)",
            f"{pad}else: {target} = (n >> 1) ^ -(n & 1)",
        ]

    def _bytes(self, target: str, pad: str) -> list[str]:
        return [*self._long("size", pad), f"{pad}{target} = data[pos:pos + size]", f"{pad}pos += size"]

    def reader(self, schema: Any, hint: Any, target: str, namespace: str, depth: int) -> list[str]:
        pad = "    " * depth
        schema = self._named(schema, namespace)
        if isinstance(schema, list):
            return self._read_union(schema, hint, target, namespace, depth)
        if isinstance(schema, str):
            schema = {"type": schema}
        base = _unwrap(hint)
        if schema.get("logicalType") in _LOGICAL:
            return self._read_logical(schema, base, target, pad)
        return self._read_plain(schema, base, target, namespace, depth)

    def _read_logical(self, schema: dict[str, Any], base: Any, target: str, pad: str) -> list[str]:
        """As `from_record` converts them: a uuid to UUID and a time to datetime only where the hint asks."""
        kind, logical = schema["type"], schema["logicalType"]
        if logical == "uuid" and kind == "string":
            text = f"{target}.decode()"
            return [*self._bytes(target, pad), f"{pad}{target} = {f'_UUID({text})' if base is UUID else text}"]
        if logical == "timestamp-millis" and kind == "long":
            lines = self._long(target, pad)
            return [*lines, f"{pad}{target} = _from_epoch_ms({target})"] if base is datetime else lines
        if logical == "date" and kind == "int":
            return [*self._long(target, pad), f"{pad}{target} = _fromordinal({target} + _EPOCH_DAY)"]
        if logical == "decimal" and kind == "bytes":
            precision, scale = int(schema["precision"]), int(schema.get("scale", 0))
            return [*self._bytes(target, pad), f"{pad}{target} = _decimal_of({target}, {precision}, {scale})"]
        raise Unsupported(f"{logical} on {kind}")

    def _read_plain(self, schema: dict[str, Any], base: Any, target: str, namespace: str, depth: int) -> list[str]:
        pad, kind = "    " * depth, schema["type"]
        match kind:
            case "null":
                return [f"{pad}{target} = None"]
            case "boolean":
                return [f"{pad}{target} = data[pos] == 1", f"{pad}pos += 1"]
            case "int" | "long":
                return self._long(target, pad)
            case "float":
                return [f"{pad}{target} = _unpack_float(data, pos)[0]", f"{pad}pos += 4"]
            case "double":
                return [f"{pad}{target} = _unpack_double(data, pos)[0]", f"{pad}pos += 8"]
            case "string":
                return [*self._bytes(target, pad), f"{pad}{target} = {target}.decode()"]
            case "bytes":
                return self._bytes(target, pad)
            case "enum":
                members = [
                    base(s) if isinstance(base, type) and issubclass(base, Enum) else s for s in schema["symbols"]
                ]
                return [*self._long(target, pad), f"{pad}{target} = {self.name_of(tuple(members))}[{target}]"]
            case "array":
                items, item = f"items{depth}", f"x{depth}"
                return [
                    f"{pad}{items} = []",
                    *self._blocks(pad),
                    *self.reader(schema["items"], _item_hint(base), item, namespace, depth + 2),
                    f"{pad}        {items}.append({item})",
                    f"{pad}{target} = {self.name_of(_collection(base))}({items})",
                ]
            case "map":
                items, key, item = f"items{depth}", f"k{depth}", f"x{depth}"
                return [
                    f"{pad}{items} = {{}}",
                    *self._blocks(pad),
                    *self.reader("string", str, key, namespace, depth + 2),
                    *self.reader(schema["values"], _value_hint(base), item, namespace, depth + 2),
                    f"{pad}        {items}[{key}] = {item}",
                    f"{pad}{target} = {items}",
                ]
            case "record":
                suffix = self.record(schema, base, namespace)
                return [f"{pad}{target}, pos = r_{suffix}(data, pos)"]
        raise Unsupported(f"type {kind}")

    def _blocks(self, pad: str) -> list[str]:
        """The loop over an array's or map's blocks; the item is read at depth + 2."""
        return [
            f"{pad}while True:",
            *self._long("count", pad + "    "),
            f"{pad}    if not count: break",
            f"{pad}    if count < 0:",
            f"{pad}        count = -count",
            *self._long("_", pad + "        "),  # a negative count is followed by the block's size in bytes
            f"{pad}    for _ in range(count):",
        ]

    def _read_union(self, branches: list[Any], hint: Any, target: str, namespace: str, depth: int) -> list[str]:
        pad = "    " * depth
        if len(branches) != 2 or "null" not in branches:
            raise Unsupported(f"union {branches}")
        null = branches.index("null")
        return [
            *self._long("branch", pad),
            f"{pad}if branch == {null}: {target} = None",
            f"{pad}elif branch == {1 - null}:",
            *self.reader(branches[1 - null], _unwrap(hint), target, namespace, depth + 1),
            f"{pad}else: raise ValueError('union branch out of range')",
        ]


def _sized(var: str, pad: str) -> list[str]:
    """Lines writing the bytes in `var` as Avro writes bytes and strings: their length, then them."""
    return [f"{pad}_write_long(out, len({var}))", f"{pad}out += {var}"]


def _item_hint(hint: Any) -> Any:
    args = typing.get_args(hint)
    return args[0] if args else Any


def _value_hint(hint: Any) -> Any:
    args = typing.get_args(hint)
    return args[1] if len(args) == 2 else Any


def _collection(hint: Any) -> Callable[[list[Any]], Any]:
    """What an array becomes, as `from_record` makes it: a tuple or frozenset per the hint, else a list."""
    origin = typing.get_origin(hint)
    return origin if origin in (tuple, frozenset) else list
