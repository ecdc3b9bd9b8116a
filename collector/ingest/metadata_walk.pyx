# cython: language_level=3, boundscheck=False, wraparound=False
"""An event's metadata checked as collector.ingest.validation._metadata checks it, in C: the same
walk in the same order, the same counts, the same first Invalid. The Python stays the rule,
and runs when this is not built (AEGIS_PURE_PYTHON, no compiler); tests/test_metadata_walk.py
holds the two to the same answers.

Hot path: the walk looks at every key and value of every event's metadata, ~19,000
instructions for the bench's 10-key object as compiled Python (type checks, `len`, joins
and searches as Python calls); here ~2,000 (callgrind, docs/benchmarks.md).
"""

from cpython.dict cimport PyDict_CheckExact, PyDict_Next
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.list cimport PyList_CheckExact, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.long cimport PyLong_CheckExact
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_CheckExact
from libc.math cimport isfinite
from libc.stdint cimport uint8_t

from collector.ingest import metadata_limits
from collector.ingest.invalid import Invalid

cdef extern from "Python.h":
    int PyUnicode_1BYTE_KIND
    int PyUnicode_KIND(object)
    void* PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    Py_UCS4 PyUnicode_READ_CHAR(object, Py_ssize_t)
    Py_ssize_t PyUnicode_FindChar(object, Py_UCS4, Py_ssize_t, Py_ssize_t, int) except -2
    long long PyLong_AsLongLongAndOverflow(object, int*) except? -1

cdef Py_ssize_t MAX_DEPTH = metadata_limits.MAX_METADATA_DEPTH
cdef Py_ssize_t MAX_NODES = metadata_limits.MAX_METADATA_NODES
cdef Py_ssize_t MAX_STRING = metadata_limits.MAX_METADATA_STRING
cdef Py_ssize_t MAX_KEY = metadata_limits.MAX_METADATA_KEY
cdef Py_ssize_t MAX_CHARS = metadata_limits.MAX_METADATA_CHARS


class Elsewhere(Exception):
    """A value this walk leaves to validation's own (a key that is not a str)."""


cdef inline bint _unsafe(object name, Py_ssize_t size) except -1:
    """Whether a non-empty key starts with "$" or holds "." or NUL."""
    cdef const uint8_t* data
    cdef Py_ssize_t i
    cdef uint8_t ch
    if PyUnicode_KIND(name) == PyUnicode_1BYTE_KIND:  # most keys: a loop over bytes
        data = <const uint8_t*>PyUnicode_DATA(name)
        if data[0] == 36:  # "$"
            return True
        for i in range(size):
            ch = data[i]
            if ch == 46 or ch == 0:  # "." or NUL
                return True
        return False
    return (
        PyUnicode_READ_CHAR(name, 0) == 36
        or PyUnicode_FindChar(name, 46, 0, size, 1) >= 0
        or PyUnicode_FindChar(name, 0, 0, size, 1) >= 0
    )


cdef Py_ssize_t _keys(dict value) except -1:
    """validation._keys: the first bad key raises; returns the characters of the keys."""
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t chars = 0
    cdef Py_ssize_t size
    cdef PyObject* key
    cdef PyObject* item
    cdef object name
    while PyDict_Next(value, &pos, &key, &item):
        name = <object>key
        if not PyUnicode_CheckExact(name):
            raise Elsewhere()
        size = PyUnicode_GET_LENGTH(name)
        if size == 0 or _unsafe(name, size):
            raise Invalid("metadata", f"key {name[:40]!r}: empty, '$'-prefixed or dotted")
        if size > MAX_KEY:
            raise Invalid("metadata", f"a key is longer than {MAX_KEY} characters")
        chars += size
    return chars


cdef int _walk(object value, Py_ssize_t depth, Py_ssize_t* nodes_out, Py_ssize_t* chars_out) except -1:
    """validation._metadata(value, depth): a dict's or a list's nodes and characters."""
    cdef Py_ssize_t chars = 0
    cdef Py_ssize_t nodes = 0
    cdef Py_ssize_t inner_nodes, inner_chars, size, i
    cdef Py_ssize_t pos = 0
    cdef PyObject* key
    cdef PyObject* entry
    cdef object item
    cdef bint is_dict = PyDict_CheckExact(value)
    cdef int overflow
    if depth > MAX_DEPTH:
        raise Invalid("metadata", f"nested deeper than {MAX_DEPTH} levels")
    if is_dict:
        chars = _keys(value)
    i = 0
    while True:
        if is_dict:
            if not PyDict_Next(value, &pos, &key, &entry):
                break
            item = <object>entry
        else:
            if i >= PyList_GET_SIZE(value):
                break
            item = <object>PyList_GET_ITEM(value, i)
            i += 1
        nodes += 1
        if PyUnicode_CheckExact(item):
            size = PyUnicode_GET_LENGTH(item)
            if size > MAX_STRING:
                raise Invalid("metadata", f"a string is longer than {MAX_STRING} characters")
            chars += size
        elif PyDict_CheckExact(item) or PyList_CheckExact(item):
            _walk(item, depth + 1, &inner_nodes, &inner_chars)
            nodes += inner_nodes
            chars += inner_chars
        elif PyFloat_CheckExact(item):
            if not isfinite(PyFloat_AS_DOUBLE(item)):
                raise Invalid("metadata", "numbers must be finite")
        elif PyLong_CheckExact(item):
            PyLong_AsLongLongAndOverflow(item, &overflow)
            if overflow:
                raise Invalid("metadata", "integers must fit in 64 bits")
    if nodes > MAX_NODES:
        raise Invalid("metadata", f"more than {MAX_NODES} keys and values")
    if chars > MAX_CHARS:
        raise Invalid("metadata", f"more than {MAX_CHARS} characters of keys and strings")
    nodes_out[0] = nodes
    chars_out[0] = chars
    return 0


def walk(object value):
    """validation._metadata(value): (nodes, characters), or the Invalid it raises. A value
    that is neither a dict nor a list, or holds a key that is not a str, is walked by
    validation._metadata itself."""
    cdef Py_ssize_t nodes, chars
    if PyDict_CheckExact(value) or PyList_CheckExact(value):
        try:
            _walk(value, 1, &nodes, &chars)
            return nodes, chars
        except Elsewhere:
            pass
    from collector.ingest import validation  # imports this module: not at the top

    return validation._metadata(value)
