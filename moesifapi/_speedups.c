/* Two leaf functions of the encoder, in C, for the optional compiled speed-up.
 *
 * `moesifapi._wire` works without this module and writes the same bytes: each function
 * here has a pure-Python twin there, and tests/test_speedups.py checks that the two
 * agree. Nothing here holds state beyond a reference to `datetime.timezone.utc`.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <string.h>

static PyObject *utc; /* datetime.timezone.utc */

/* "YYYY-MM-DDTHH:MM:SS.mmmZ": what `_wire.format_timestamp` writes for a UTC time. */
#define TIME_TEXT_LENGTH 24

static void
write_digits(Py_UCS1 *out, int value, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (Py_UCS1)('0' + value % 10);
        value /= 10;
    }
}

PyDoc_STRVAR(utc_millis_doc,
"utc_millis(value, /)\n--\n\n"
"The wire text of a `datetime` whose tzinfo is `timezone.utc`, to the millisecond\n"
"and with a Z, as `format_timestamp` writes it; None for any other value.");

static PyObject *
utc_millis(PyObject *module, PyObject *value)
{
    /* Exactly `datetime`: a subclass may format itself differently. */
    if (!PyDateTime_CheckExact(value) || PyDateTime_DATE_GET_TZINFO(value) != utc) {
        Py_RETURN_NONE;
    }
    PyObject *text = PyUnicode_New(TIME_TEXT_LENGTH, 127);
    if (text == NULL) {
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(text);
    write_digits(out, PyDateTime_GET_YEAR(value), 4);
    out[4] = '-';
    write_digits(out + 5, PyDateTime_GET_MONTH(value), 2);
    out[7] = '-';
    write_digits(out + 8, PyDateTime_GET_DAY(value), 2);
    out[10] = 'T';
    write_digits(out + 11, PyDateTime_DATE_GET_HOUR(value), 2);
    out[13] = ':';
    write_digits(out + 14, PyDateTime_DATE_GET_MINUTE(value), 2);
    out[16] = ':';
    write_digits(out + 17, PyDateTime_DATE_GET_SECOND(value), 2);
    out[19] = '.';
    write_digits(out + 20, PyDateTime_DATE_GET_MICROSECOND(value) / 1000, 3);
    out[23] = 'Z';
    return text;
}

/* Whether "null" occurs in data[0:length]. Sixteen positions at a time where the
 * compiler has vector extensions: a position is a candidate when it holds 'n' and the
 * byte three further holds 'l', which in JSON text is rare outside "null" itself;
 * candidates are then compared whole. */
static int
contains_null(const unsigned char *data, Py_ssize_t length)
{
    Py_ssize_t i = 0;
#if defined(__GNUC__) || defined(__clang__)
    typedef unsigned char bytes16 __attribute__((vector_size(16)));
    const bytes16 n = {'n', 'n', 'n', 'n', 'n', 'n', 'n', 'n',
                       'n', 'n', 'n', 'n', 'n', 'n', 'n', 'n'};
    const bytes16 l = {'l', 'l', 'l', 'l', 'l', 'l', 'l', 'l',
                       'l', 'l', 'l', 'l', 'l', 'l', 'l', 'l'};
    for (; i + 16 + 3 <= length; i += 16) {
        bytes16 first, last;
        memcpy(&first, data + i, 16);
        memcpy(&last, data + i + 3, 16);
        bytes16 hits = (bytes16)((first == n) & (last == l));
        unsigned long long halves[2];
        memcpy(halves, &hits, 16);
        if ((halves[0] | halves[1]) == 0) {
            continue;
        }
        for (int j = 0; j < 16; j++) {
            if (hits[j] && memcmp(data + i + j, "null", 4) == 0) {
                return 1;
            }
        }
    }
#endif
    for (; i + 4 <= length; i++) {
        if (data[i] == 'n' && memcmp(data + i, "null", 4) == 0) {
            return 1;
        }
    }
    return 0;
}

PyDoc_STRVAR(has_null_doc,
"has_null(data, /)\n--\n\n"
"Whether the bytes-like `data` contains b\"null\".");

static PyObject *
has_null(PyObject *module, PyObject *data)
{
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) != 0) {
        return NULL;
    }
    int found = contains_null((const unsigned char *)view.buf, view.len);
    PyBuffer_Release(&view);
    return PyBool_FromLong(found);
}

static PyMethodDef methods[] = {
    {"utc_millis", utc_millis, METH_O, utc_millis_doc},
    {"has_null", has_null, METH_O, has_null_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "moesifapi._speedups",
    .m_doc = "Optional C versions of two functions of moesifapi._wire.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) {
        return NULL;
    }
    utc = PyDateTimeAPI->TimeZone_UTC;
    Py_INCREF(utc);
    return PyModule_Create(&module);
}
