# cython: language_level=3
"""Epoch milliseconds as an aware UTC datetime, in C: collector.ingest.instants.from_epoch_ms
(which stays the rule and the fallback) without its memo's dict, divmod and datetime sum
(~1,800 instructions a timestamp; here a few hundred). A .pxd of an inline function, compiled into
the reader that cimports it (collector.api.wire_events), which calls import_datetime().
The date is the proleptic Gregorian calendar's, as datetime's, by H. Hinnant's
civil_from_days; tests/test_wire_events.py holds the reader's datetimes to protobuf's path
over years 1 to 9999 and past them.
"""

from cpython.datetime cimport datetime_new
from libc.stdint cimport int64_t

cdef enum:
    _DAY_MS = 86400000


cdef inline object utc_from_epoch_ms(int64_t ms, object utc):
    """The moment `ms` milliseconds after 1970-01-01 UTC, with tzinfo `utc`; None past the
    years 1 .. 9999 (where from_epoch_ms raises OverflowError). |ms| < 2^62. Every division
    is of numbers not below zero, so C's and Python's agree (whatever the cdivision of the
    module that cimports this)."""
    cdef int64_t days
    if ms >= 0:
        days = ms // _DAY_MS
    else:
        days = -((-ms - 1) // _DAY_MS) - 1  # the floor
    cdef int64_t rest = ms - days * _DAY_MS  # [0, _DAY_MS)
    cdef int64_t z = days + 719468  # days since 0000-03-01
    if z < 0:
        return None  # before the year 1
    cdef int64_t era = z // 146097
    cdef int64_t doe = z - era * 146097  # day of the 400-year era, [0, 146096]
    cdef int64_t yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365  # [0, 399]
    cdef int64_t doy = doe - (365 * yoe + yoe // 4 - yoe // 100)  # from March 1st, [0, 365]
    cdef int64_t mp = (5 * doy + 2) // 153  # month from March, [0, 11]
    cdef int64_t day = doy - (153 * mp + 2) // 5 + 1
    cdef int64_t month = mp + 3 if mp < 10 else mp - 9
    cdef int64_t year = yoe + era * 400 + (1 if month <= 2 else 0)
    if year < 1 or year > 9999:
        return None
    return datetime_new(
        <int>year,
        <int>month,
        <int>day,
        <int>(rest // 3600000),
        <int>(rest // 60000 % 60),
        <int>(rest // 1000 % 60),
        <int>(rest % 1000 * 1000),
        utc,
    )
