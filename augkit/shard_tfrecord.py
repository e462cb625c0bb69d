"""``augkit expand --format tfrecord`` shards indexed for random access, without TensorFlow.

A TFRecord file is a sequence of records ``[length: uint64][crc: uint32][data][crc: uint32]``;
each ``data`` is a serialized ``tf.train.Example`` whose features are ``image`` (PNG bytes),
``label``, ``class_name``, ``index``, ``copy`` and ``format`` (``docs/expand.md``).

:func:`index_tfrecord` walks a file once, reading only both ends of every record (the small
features and the PNG header, not the pixels), and returns where each PNG lies in the file, its
label, class name and shape; the decompression-bomb guard of :mod:`augkit.io` is applied to
every PNG header here, so a shard that would decode to huge images is refused when it is opened.
:func:`augkit.png.decode_png` then turns the bytes read at such a place into pixels. The
protobuf wire format is read directly (a dozen lines, below) so that indexing needs neither
TensorFlow nor reading the images.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from augkit.errors import InputError
from augkit.io import DEFAULT_MAX_PIXELS, check_pixels
from augkit.png import PNG_CHANNELS, png_header

__all__ = ["MAX_LABEL", "RecordIndex", "index_tfrecord"]

#: Bytes read at each end of a record: every feature but the image's pixels fits in them.
_END = 1024
#: The largest label accepted. expand may write labels above the number of records (classes
#: whose outputs all failed; sparse integer labels of an ``.npz`` source), so the bound is not
#: the record count; but the class-name list has one entry per label up to the largest, and
#: no classifier has a million classes: a larger label is a damaged or foreign record.
MAX_LABEL = 2**20 - 1


class _Short(Exception):
    """The bytes read so far do not cover what the parser needs: read the whole record."""


@dataclass
class RecordIndex:
    """What one TFRecord shard holds, record by record (see :func:`index_tfrecord`)."""

    png_offset: list[int] = field(default_factory=list)  # absolute byte offset of each PNG
    png_length: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    class_names: dict[int, str] = field(default_factory=dict)  # label -> name
    shape: tuple[int, int, int] | None = None  # (height, width, channels), shared by all


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    byte = buf[i]
    if byte < 0x80:  # tags and small lengths: one byte
        return byte, i + 1
    value, shift = byte & 0x7F, 7
    while True:
        i += 1
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i + 1
        shift += 7
        if shift > 63:
            raise ValueError("malformed varint")


class _Record:
    """A record's data known only at both ends: ``head`` from byte 0, ``tail`` from
    ``tail_start`` to ``length``. Reading the middle (the image's pixels) raises :class:`_Short`
    (or ``IndexError``, from a buffer's end)."""

    __slots__ = ("head", "length", "tail", "tail_start")

    def __init__(self, head: bytes, tail: bytes, tail_start: int, length: int) -> None:
        self.head, self.tail, self.tail_start, self.length = head, tail, tail_start, length

    def at(self, i: int) -> tuple[bytes, int]:
        """The buffer holding byte ``i``, and the position of its first byte."""
        if i < len(self.head):
            return self.head, 0
        if i >= self.tail_start:
            return self.tail, self.tail_start
        raise _Short


def _fields(buf: bytes, start: int, end: int, base: int = 0) -> list[tuple[int, int, Any]]:
    """``(field number, wire type, value or (start, end) span)`` of the message at
    ``[start, end)`` of ``buf``, whose byte 0 is at position ``base`` (spans are positions).

    Length-delimited fields are returned as spans, not read: ``end`` may lie beyond ``buf``
    when the last field (the image) does.
    """
    out = []
    i, end = start - base, end - base
    while i < end:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            out.append((number, wire, value))
        elif wire == 2:
            size, i = _varint(buf, i)
            if i + size > end:
                raise ValueError("a field runs past its message")
            out.append((number, wire, (i + base, i + size + base)))
            i += size
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    if i != end:
        raise ValueError("a field runs past its message")
    return out


def _spans(rec: _Record, start: int, end: int) -> Iterator[tuple[int, int]]:
    """The ``(field number, span)`` of the length-delimited fields of a message spanning the
    record's gap (the Example and its Features): each field is looked up where it starts."""
    i = start
    while i < end:
        buf, base = rec.at(i)
        (number, wire, span), = _fields(buf, i, i + _field_size(buf, i - base), base)
        if wire == 2:
            yield number, span
        i = span[1] if wire == 2 else i + _field_size(buf, i - base)
    if i != end:
        raise ValueError("a field runs past its message")


def _field_size(buf: bytes, i: int) -> int:
    """Bytes taken by the field starting at ``buf[i]`` (tag, length and value)."""
    key, j = _varint(buf, i)
    wire = key & 7
    if wire == 0:
        return _varint(buf, j)[1] - i
    if wire == 2:
        size, k = _varint(buf, j)
        return k + size - i
    if wire in (1, 5):
        return j + (8 if wire == 1 else 4) - i
    raise ValueError(f"unsupported wire type {wire}")


def _example(rec: _Record) -> dict[str, tuple]:
    """``name -> ("bytes", span) | ("int64", value)`` of a serialized ``tf.train.Example``."""
    features = {}
    for number, span in _spans(rec, 0, rec.length):
        if number != 1:  # Example.features
            continue
        for n_entry, (a, b) in _spans(rec, *span):
            if n_entry != 1:  # Features.feature, a map entry
                continue
            buf, base = rec.at(a)  # an entry is read from one buffer
            name = value = None
            for n_kv, w_kv, kv in _fields(buf, a, b, base):
                if n_kv == 1 and w_kv == 2:
                    name = buf[kv[0] - base:kv[1] - base].decode("utf-8", "backslashreplace")
                elif n_kv == 2 and w_kv == 2:
                    value = kv
            if name is None or value is None:
                continue
            for kind, w_list, values in _fields(buf, *value, base):
                if w_list != 2 or kind not in (1, 3):
                    continue
                for n, w, v in _fields(buf, *values, base):
                    if n != 1:
                        continue
                    if kind == 1 and w == 2:  # BytesList: the first value's span
                        features[name] = ("bytes", v)
                    elif kind == 3:  # Int64List, unpacked or packed
                        v = v if w == 0 else _varint(buf, v[0] - base)[0]
                        v &= (1 << 64) - 1  # two's complement int64
                        features[name] = ("int64", v - (1 << 64) if v >> 63 else v)
                    break
    return features


def _png_shape(header: bytes) -> tuple[int, int, int]:
    """``(height, width, channels)`` from a PNG's first 26 bytes; only what expand writes."""
    width, height, depth, color = png_header(header)
    if depth != 8 or color not in PNG_CHANNELS:
        raise ValueError(f"a PNG of bit depth {depth} and colour type {color}; allowed: 8-bit "
                         f"grey, RGB or RGBA (what augkit expand writes)")
    if width == 0 or height == 0:
        raise ValueError("a PNG of size 0")
    return height, width, PNG_CHANNELS[color]


def _bytes(rec: _Record, i: int, j: int) -> bytes:
    buf, base = rec.at(i)
    if j - base > len(buf):
        raise _Short
    return buf[i - base:j - base]


def _read_record(handle: Any, start: int, length: int, whole: bool = False) -> _Record:
    """A record's data at ``start``: both ends only, unless it is small or ``whole``."""
    handle.seek(start)
    if whole or length <= 2 * _END:
        return _Record(handle.read(length), b"", length, length)
    head = handle.read(_END)
    handle.seek(start + length - _END)
    return _Record(head, handle.read(_END), length - _END, length)


def index_tfrecord(path: str) -> RecordIndex:
    """Index the records of one ``augkit expand`` TFRecord shard (see the module docstring).

    Raises:
        InputError: naming the file (and record), when the file is truncated or not such a
            shard, when an image is not an 8-bit grey/RGB/RGBA PNG or has more pixels than
            :data:`augkit.io.DEFAULT_MAX_PIXELS`, when its images differ in size, or when a
            label is negative or above :data:`MAX_LABEL`.
    """
    index = RecordIndex()
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            pos = record = 0
            while pos < size:
                handle.seek(pos)
                head = handle.read(12)
                if len(head) < 12:
                    raise InputError(f"{path}: truncated after record {record} (byte {pos})")
                length = struct.unpack("<Q", head[:8])[0]
                if pos + 16 + length > size:
                    raise InputError(f"{path}: record {record} runs past the end of the file "
                                     f"(truncated)")
                _add_record(index, path, record, handle, pos + 12, length)
                pos += 16 + length
                record += 1
    except OSError as exc:
        raise InputError(f"{path}: not a readable TFRecord shard ({exc})") from None
    _check_sidecar(path, size, len(index.labels))
    return index


def _add_record(index: RecordIndex, path: str, record: int, handle: Any, start: int,
                length: int) -> None:
    try:
        try:
            rec = _read_record(handle, start, length)
            features = _example(rec)
        except (_Short, IndexError):  # a feature larger than expected: read it all
            rec = _read_record(handle, start, length, whole=True)
            features = _example(rec)
        kinds = {name: kind for name, (kind, _) in features.items()}
        if kinds.get("image") != "bytes" or kinds.get("label") != "int64":
            raise ValueError("no 'image' (bytes) and 'label' (int64) features")
        png = features["image"][1]
        shape = _png_shape(_bytes(rec, png[0], min(png[1], png[0] + 26)))
        class_name = None
        if kinds.get("class_name") == "bytes":
            class_name = _bytes(rec, *features["class_name"][1]).decode("utf-8",
                                                                       "backslashreplace")
    except (ValueError, _Short, IndexError) as exc:
        raise InputError(f"{path}: record {record} is not an augkit expand example "
                         f"({exc or 'truncated'})") from None
    where = f"{path}, record {record}"
    check_pixels(where, (shape[1], shape[0]), DEFAULT_MAX_PIXELS)  # before any pixel is read
    label = features["label"][1]
    if not 0 <= label <= MAX_LABEL:
        raise InputError(f"{where}: label {label}; allowed: 0 to {MAX_LABEL} (a damaged record, "
                         f"or not written by augkit expand)")
    if index.shape is None:
        index.shape = shape
    elif shape != index.shape:
        raise InputError(f"{path}: record {record} holds an image of shape {shape}, but the "
                         f"records before it {index.shape}; a stream needs one size")
    index.png_offset.append(start + png[0])
    index.png_length.append(png[1] - png[0])
    index.labels.append(label)
    if class_name is not None:
        index.class_names[label] = class_name


def _check_sidecar(path: str, size: int, records: int) -> None:
    """The ``.json`` expand writes beside a shard, when present, must describe this file."""
    try:
        with open(path + ".json", encoding="utf-8") as handle:
            info = json.load(handle)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}.json: not readable ({exc})") from None
    if not isinstance(info, dict):
        return
    listed = info.get("records", [])
    if not isinstance(listed, list):
        raise InputError(f"{path}.json: 'records' is {type(listed).__name__}, not the list augkit "
                         f"expand writes; rerun augkit expand, or remove the .json")
    if info.get("bytes") not in (None, size) or len(listed) not in (0, records):
        raise InputError(f"{path}: {size} bytes and {records} records, but its .json lists "
                         f"{info.get('bytes')} bytes and {len(listed)} records: truncated or "
                         f"replaced; rerun augkit expand")

