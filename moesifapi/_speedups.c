/* Functions of the encoder, in C, for the optional compiled speed-up.
 *
 * `moesifapi._wire` works without this module and writes the same bytes: each leaf
 * function here has a pure-Python twin there (`json_check`'s is in `moesifapi._jsoncheck`,
 * `contains_any`'s in `moesifapi.integrations._capture`, `reads_alike`'s in
 * `moesifapi.cli._records`), and tests/test_speedups.py and tests/test_json_check.py
 * check that the two agree. The model writer (`encode_model`, `encode_models`) has the
 * whole Python path as its twin: it writes what the hooks and orjson write, or declines,
 * which tests/test_model_writer.py checks. Nothing here holds state beyond a reference
 * to `datetime.timezone.utc` and the writer's scratch buffer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <string.h>
#include <math.h>
#include <stdint.h>
#include <structmember.h>

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

/* --- counts and type tests for the encoder's checks --- */

/* How many '{' and '[' are in data[0:length]: an upper bound on the nesting depth of
 * JSON text. Sixteen bytes at a time where the compiler has vector extensions, into
 * byte-wide counters emptied before they can wrap. */
static Py_ssize_t
count_opening(const unsigned char *data, Py_ssize_t length)
{
    Py_ssize_t count = 0, i = 0;
#if defined(__GNUC__) || defined(__clang__)
    typedef unsigned char bytes16 __attribute__((vector_size(16)));
    const bytes16 brace = {'{', '{', '{', '{', '{', '{', '{', '{',
                           '{', '{', '{', '{', '{', '{', '{', '{'};
    const bytes16 bracket = {'[', '[', '[', '[', '[', '[', '[', '[',
                             '[', '[', '[', '[', '[', '[', '[', '['};
    while (i + 16 <= length) {
        bytes16 counters = {0};
        for (int round = 0; round < 255 && i + 16 <= length; round++, i += 16) {
            bytes16 v;
            memcpy(&v, data + i, 16);
            counters -= (bytes16)((v == brace) | (v == bracket)); /* a hit is 0xFF: -1 */
        }
        for (int j = 0; j < 16; j++) {
            count += counters[j];
        }
    }
#endif
    for (; i < length; i++) {
        count += data[i] == '{' || data[i] == '[';
    }
    return count;
}

PyDoc_STRVAR(count_opening_doc,
"count_opening(data, /)\n--\n\n"
"data.count(b\"{\") + data.count(b\"[\") of the bytes-like `data`, in one pass.");

static PyObject *
count_opening_py(PyObject *module, PyObject *data)
{
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) != 0) {
        return NULL;
    }
    Py_ssize_t count = count_opening((const unsigned char *)view.buf, view.len);
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(count);
}

PyDoc_STRVAR(over_opening_doc,
"over_opening(items, limit, /)\n--\n\n"
"The indexes of the bytes in the list `items` that hold more than `limit` of\n"
"'{' and '[' together, in order.");

static PyObject *
over_opening(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "over_opening expected 2 arguments, got %zd", nargs);
        return NULL;
    }
    PyObject *items = args[0];
    if (!PyList_Check(items)) {
        PyErr_Format(PyExc_TypeError, "over_opening() argument 1 must be list, not %.200s",
                     Py_TYPE(items)->tp_name);
        return NULL;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(args[1]);
    if (limit == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *found = PyList_New(0);
    if (found == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (!PyBytes_Check(item)) {
            Py_DECREF(found);
            PyErr_Format(PyExc_TypeError, "over_opening() items must be bytes, not %.200s",
                         Py_TYPE(item)->tp_name);
            return NULL;
        }
        Py_ssize_t count = count_opening((const unsigned char *)PyBytes_AS_STRING(item),
                                         PyBytes_GET_SIZE(item));
        if (count > limit) {
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL || PyList_Append(found, index) != 0) {
                Py_XDECREF(index);
                Py_DECREF(found);
                return NULL;
            }
            Py_DECREF(index);
        }
    }
    return found;
}

PyDoc_STRVAR(str_values_doc,
"str_values(value, /)\n--\n\n"
"Whether `value` is exactly a dict whose values are all exactly str.");

static PyObject *
str_values(PyObject *module, PyObject *value)
{
    if (!PyDict_CheckExact(value)) {
        Py_RETURN_FALSE;
    }
    Py_ssize_t position = 0;
    PyObject *key, *item;
    while (PyDict_Next(value, &position, &key, &item)) {
        if (!PyUnicode_CheckExact(item)) {
            Py_RETURN_FALSE;
        }
    }
    Py_RETURN_TRUE;
}

PyDoc_STRVAR(str_items_doc,
"str_items(value, /)\n--\n\n"
"Whether `value` is exactly a dict whose keys and values are all exactly str.");

static PyObject *
str_items(PyObject *module, PyObject *value)
{
    if (!PyDict_CheckExact(value)) {
        Py_RETURN_FALSE;
    }
    Py_ssize_t position = 0;
    PyObject *key, *item;
    while (PyDict_Next(value, &position, &key, &item)) {
        if (!PyUnicode_CheckExact(key) || !PyUnicode_CheckExact(item)) {
            Py_RETURN_FALSE;
        }
    }
    Py_RETURN_TRUE;
}

/* --- json_check: whether bytes are one JSON value orjson would read back exactly --- */

/* orjson.loads refuses anything nested deeper than this; a larger max_depth counts as it. */
#define JSON_DEPTH_LIMIT 1024

/* 1 for the bytes that stand for themselves inside a JSON string: printable ASCII but the
 * quote and the backslash. Filled in by the module's init. */
static unsigned char string_plain[256];

#define IS_DIGIT(c) ((unsigned char)((c) - '0') < 10)
#define IS_UPPER(c) ((unsigned char)((c) - 'A') < 26)

static inline const unsigned char *
skip_space(const unsigned char *p, const unsigned char *end)
{
    if (p < end && *p > ' ') { /* compact JSON: nearly always */
        return p;
    }
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
        p++;
    }
    return p;
}

/* The value of the four hex digits at p, or -1. */
static inline long
hex4(const unsigned char *p)
{
    long value = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        long digit;
        if (IS_DIGIT(c)) {
            digit = c - '0';
        }
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            digit = (c | 0x20) - 'a' + 10;
        }
        else {
            return -1;
        }
        value = value * 16 + digit;
    }
    return value;
}

/* Just past the string whose opening quote is at p, or NULL where it is not a valid
 * string: unterminated, a raw control character, a bad escape, a lone surrogate
 * escape, or bytes that are not UTF-8 (overlong forms, encoded surrogates and anything
 * above U+10FFFF included). */
static const unsigned char *
scan_string(const unsigned char *p, const unsigned char *end)
{
    p++;
    for (;;) {
#if defined(__GNUC__) || defined(__clang__)
        typedef unsigned char bytes16 __attribute__((vector_size(16)));
        const bytes16 space = {0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
                               0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20};
        const bytes16 high = {0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f,
                              0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f};
        const bytes16 quote = {'"', '"', '"', '"', '"', '"', '"', '"',
                               '"', '"', '"', '"', '"', '"', '"', '"'};
        const bytes16 backslash = {'\\', '\\', '\\', '\\', '\\', '\\', '\\', '\\',
                                   '\\', '\\', '\\', '\\', '\\', '\\', '\\', '\\'};
        while (end - p >= 16) {
            bytes16 v;
            memcpy(&v, p, 16);
            bytes16 special =
                (bytes16)((v < space) | (v > high) | (v == quote) | (v == backslash));
            unsigned long long halves[2];
            memcpy(halves, &special, 16);
            if ((halves[0] | halves[1]) != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                /* on to the first special byte (each is 0xFF, the others 0) */
                if (halves[0] != 0) {
                    p += __builtin_ctzll(halves[0]) / 8;
                }
                else {
                    p += 8 + __builtin_ctzll(halves[1]) / 8;
                }
#endif
                break;
            }
            p += 16;
        }
#endif
        while (p < end && string_plain[*p]) {
            p++;
        }
        if (p == end) {
            return NULL;
        }
        unsigned char c = *p;
        if (c == '"') {
            return p + 1;
        }
        Py_ssize_t left = end - p;
        if (c == '\\') {
            if (left < 2) {
                return NULL;
            }
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                p += 2;
                continue;
            case 'u': {
                long unit = left >= 6 ? hex4(p + 2) : -1;
                if (unit < 0 || (unit >= 0xDC00 && unit <= 0xDFFF)) {
                    return NULL;
                }
                p += 6;
                if (unit >= 0xD800 && unit <= 0xDBFF) {
                    /* a high surrogate: a low one must follow at once */
                    long low = (end - p >= 6 && p[0] == '\\' && p[1] == 'u') ? hex4(p + 2) : -1;
                    if (low < 0xDC00 || low > 0xDFFF) {
                        return NULL;
                    }
                    p += 6;
                }
                continue;
            }
            default:
                return NULL;
            }
        }
        if (c < 0x80) {
            return NULL; /* a control character */
        }
        /* UTF-8, as Table 3-7 of the Unicode Standard has it */
        if (c >= 0xC2 && c <= 0xDF) {
            if (left < 2 || (p[1] & 0xC0) != 0x80) {
                return NULL;
            }
            p += 2;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            unsigned char low = c == 0xE0 ? 0xA0 : 0x80;
            unsigned char top = c == 0xED ? 0x9F : 0xBF;
            if (left < 3 || p[1] < low || p[1] > top || (p[2] & 0xC0) != 0x80) {
                return NULL;
            }
            p += 3;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            unsigned char low = c == 0xF0 ? 0x90 : 0x80;
            unsigned char top = c == 0xF4 ? 0x8F : 0xBF;
            if (left < 4 || p[1] < low || p[1] > top || (p[2] & 0xC0) != 0x80 ||
                (p[3] & 0xC0) != 0x80) {
                return NULL;
            }
            p += 4;
        }
        else {
            return NULL;
        }
    }
}

/* Whether the number text [start, end) reads as a finite double (correctly rounded,
 * as `float()` reads it). Only asked of numbers of about 1e308, so seldom. */
static int
number_is_finite(const unsigned char *start, const unsigned char *end)
{
    size_t length = (size_t)(end - start);
    char small[128];
    char *text = length < sizeof(small) ? small : PyMem_Malloc(length + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, start, length);
    text[length] = '\0';
    double value = PyOS_string_to_double(text, NULL, NULL);
    int error = value == -1.0 && PyErr_Occurred();
    if (error) {
        PyErr_Clear();
    }
    if (text != small) {
        PyMem_Free(text);
    }
    return !error && !isinf(value);
}

/* Just past the number at p, or NULL where it is not a JSON number or is one the checker
 * refuses: an integer of 19 digits or more, or a value that overflows a double. */
static const unsigned char *
scan_number(const unsigned char *p, const unsigned char *end)
{
    const unsigned char *start = p;
    if (*p == '-') {
        p++;
    }
    const unsigned char *int_start = p;
    if (p == end) {
        return NULL;
    }
    if (*p == '0') {
        p++;
    }
    else if (*p >= '1' && *p <= '9') {
        do {
            p++;
        } while (p < end && IS_DIGIT(*p));
    }
    else {
        return NULL;
    }
    const unsigned char *int_end = p;
    const unsigned char *frac_start = NULL, *frac_end = NULL;
    if (p < end && *p == '.') {
        frac_start = ++p;
        if (p == end || !IS_DIGIT(*p)) {
            return NULL;
        }
        do {
            p++;
        } while (p < end && IS_DIGIT(*p));
        frac_end = p;
    }
    int has_exponent = 0;
    long long exponent = 0;
    if (p < end && (*p | 0x20) == 'e') {
        int negative = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            negative = *p == '-';
            p++;
        }
        if (p == end || !IS_DIGIT(*p)) {
            return NULL;
        }
        do {
            /* saturates far beyond any length of digits a buffer can hold */
            if (exponent < 100000000000000000LL) {
                exponent = exponent * 10 + (*p - '0');
            }
            p++;
        } while (p < end && IS_DIGIT(*p));
        exponent = negative ? -exponent : exponent;
        has_exponent = 1;
    }
    if (frac_start == NULL && !has_exponent) {
        return int_end - int_start >= 19 ? NULL : p;
    }
    /* The value lies in [10**magnitude, 10**(magnitude + 1)). */
    long long magnitude;
    if (*int_start != '0') {
        magnitude = (long long)(int_end - int_start) - 1;
    }
    else {
        const unsigned char *q = frac_start;
        if (q == NULL) {
            return p; /* zero */
        }
        while (q < frac_end && *q == '0') {
            q++;
        }
        if (q == frac_end) {
            return p; /* zero */
        }
        magnitude = -(long long)(q - frac_start) - 1;
    }
    magnitude += exponent;
    if (magnitude < 308) {
        return p; /* below 1e308, under the largest double */
    }
    if (magnitude > 308) {
        return NULL; /* at least 1e309 */
    }
    return number_is_finite(start, p) ? p : NULL;
}

#if defined(__GNUC__) || defined(__clang__)
#define LOWEST_BIT(x) __builtin_ctzll(x)
#else
static inline int
lowest_bit(unsigned long long x)
{
    int k = 0;
    while (!(x & 1)) {
        x >>= 1;
        k++;
    }
    return k;
}
#define LOWEST_BIT(x) lowest_bit(x)
#endif

/* Lowercase ASCII needles, by their first byte in either case (a bit set of at most 64). */
typedef struct {
    unsigned long long starts[256];
    const unsigned char *text[64];
    Py_ssize_t length[64];
    Py_ssize_t shortest; /* the length of the shortest needle; PY_SSIZE_T_MAX for none */
} Needles;

/* Whether the raw text [p, end) holds a needle in any ASCII case; with
 * `spelled_otherwise`, also an escape (which can spell any letter) or a byte past ASCII
 * (Python's `str.lower` maps some of those onto ASCII letters: KELVIN SIGN to 'k'), as
 * an object key may name a private field that way. */
static int
holds_needle(const unsigned char *p, const unsigned char *end, const Needles *needles,
                   int spelled_otherwise)
{
    if (spelled_otherwise) {
        for (const unsigned char *at = p; at < end; at++) {
            if (*at == '\\' || *at >= 0x80) {
                return 1;
            }
        }
    }
    if (end - p < needles->shortest) {
        return 0; /* no needle fits */
    }
    const unsigned char *last = end - needles->shortest;
    for (const unsigned char *at = p; at <= last; at++) {
        unsigned long long candidates = needles->starts[*at];
        while (candidates) {
            int k = LOWEST_BIT(candidates); /* the needles starting so, in turn */
            candidates &= candidates - 1;
            Py_ssize_t length = needles->length[k];
            if (length > end - at) {
                continue;
            }
            const unsigned char *want = needles->text[k];
            Py_ssize_t j = 1;
            while (j < length && (unsigned char)(at[j] | (IS_UPPER(at[j]) ? 0x20 : 0)) == want[j]) {
                j++;
            }
            if (j == length) {
                return 1;
            }
        }
    }
    return 0;
}

/* 1 if [p, end) is one JSON value in optional whitespace, nested at most `limit` deep
 * (limit <= JSON_DEPTH_LIMIT), that json_check lets through; else 0. With `needles`,
 * `*flagged` is set to 1 once an object key `holds_needle` (spelled otherwise too). No recursion: the
 * kind of each open container is kept in `in_object`. */
static int
check_json_keys(const unsigned char *p, const unsigned char *end, int limit,
                const Needles *needles, int *flagged)
{
    unsigned char in_object[JSON_DEPTH_LIMIT + 1];
    int depth = 0;
    if (limit < 0) {
        return 0;
    }
    p = skip_space(p, end);
value:
    if (p == end) {
        return 0;
    }
    switch (*p) {
    case '{':
        if (depth >= limit) {
            return 0;
        }
        in_object[++depth] = 1;
        p = skip_space(p + 1, end);
        if (p < end && *p == '}') {
            depth--;
            p++;
            goto after_value;
        }
        goto key;
    case '[':
        if (depth >= limit) {
            return 0;
        }
        in_object[++depth] = 0;
        p = skip_space(p + 1, end);
        if (p < end && *p == ']') {
            depth--;
            p++;
            goto after_value;
        }
        goto value;
    case '"':
        p = scan_string(p, end);
        break;
    case 't':
        p = end - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
        break;
    case 'f':
        p = end - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
        break;
    case 'n':
        p = end - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
        break;
    default:
        p = *p == '-' || IS_DIGIT(*p) ? scan_number(p, end) : NULL;
        break;
    }
    if (p == NULL) {
        return 0;
    }
after_value:
    p = skip_space(p, end);
    if (depth == 0) {
        return p == end;
    }
    if (p == end) {
        return 0;
    }
    if (*p == ',') {
        p = skip_space(p + 1, end);
        if (!in_object[depth]) {
            goto value;
        }
        goto key;
    }
    if (*p != (in_object[depth] ? '}' : ']')) {
        return 0;
    }
    depth--;
    p++;
    goto after_value;
key:
    if (p == end || *p != '"') {
        return 0;
    }
    {
        const unsigned char *name = p + 1;
        p = scan_string(p, end);
        if (p == NULL) {
            return 0;
        }
        if (needles != NULL && !*flagged && holds_needle(name, p - 1, needles, 1)) {
            *flagged = 1;
        }
    }
    p = skip_space(p, end);
    if (p == end || *p != ':') {
        return 0;
    }
    p = skip_space(p + 1, end);
    goto value;
}

static int
check_json(const unsigned char *p, const unsigned char *end, int limit)
{
    return check_json_keys(p, end, limit, NULL, NULL);
}

/* The bytes and the depth limit that json_check and json_keys_check take first, checked:
 * `*max_depth` gets the limit, capped at JSON_DEPTH_LIMIT (-1 for a negative one); 0 with
 * an exception set where the arguments are of the wrong types. */
static int
data_and_depth(PyObject *const *args, const char *name, int *max_depth)
{
    if (!PyBytes_Check(args[0])) {
        PyErr_Format(PyExc_TypeError, "%s() argument 1 must be bytes, not %.200s", name,
                     Py_TYPE(args[0])->tp_name);
        return 0;
    }
    if (!PyLong_Check(args[1])) {
        PyErr_Format(PyExc_TypeError, "%s() argument 2 must be int, not %.200s", name,
                     Py_TYPE(args[1])->tp_name);
        return 0;
    }
    int overflow;
    long long depth = PyLong_AsLongLongAndOverflow(args[1], &overflow);
    if (depth == -1 && PyErr_Occurred()) {
        return 0;
    }
    if (overflow > 0 || depth > JSON_DEPTH_LIMIT) {
        depth = JSON_DEPTH_LIMIT;
    }
    else if (overflow < 0 || depth < 0) {
        depth = -1;
    }
    *max_depth = (int)depth;
    return 1;
}

PyDoc_STRVAR(json_check_doc,
"json_check(data, max_depth, /)\n--\n\n"
"1 if the bytes `data` are exactly one JSON value (RFC 8259, in optional whitespace,\n"
"valid UTF-8, no lone surrogate escapes) nested at most `max_depth` deep, with no\n"
"integer of 19 digits or more and no number that overflows a double; else 0.\n"
"A max_depth above 1024 (orjson's own limit) counts as 1024.");

static PyObject *
json_check(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "json_check expected 2 arguments, got %zd", nargs);
        return NULL;
    }
    int max_depth;
    if (!data_and_depth(args, "json_check", &max_depth)) {
        return NULL;
    }
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    int ok = check_json(data, data + PyBytes_GET_SIZE(args[0]), max_depth);
    return PyLong_FromLong(ok);
}

/* `needles` (a tuple of at most 64 non-empty lowercase ASCII bytes) into `out`, which
 * borrows their bytes; 0 with an exception set where they are not. */
static int
fill_needles(PyObject *needles, Needles *out, const char *caller)
{
    if (!PyTuple_Check(needles)) {
        PyErr_Format(PyExc_TypeError, "%s() needles must be a tuple of bytes", caller);
        return 0;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(needles);
    if (count > 64) {
        PyErr_Format(PyExc_ValueError, "%s() takes at most 64 needles", caller);
        return 0;
    }
    memset(out->starts, 0, sizeof(out->starts));
    out->shortest = PY_SSIZE_T_MAX;
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *needle = PyTuple_GET_ITEM(needles, k);
        if (!PyBytes_Check(needle) || PyBytes_GET_SIZE(needle) == 0) {
            PyErr_Format(PyExc_TypeError, "%s() needles must be non-empty bytes", caller);
            return 0;
        }
        const unsigned char *text = (const unsigned char *)PyBytes_AS_STRING(needle);
        out->text[k] = text;
        out->length[k] = PyBytes_GET_SIZE(needle);
        if (out->length[k] < out->shortest) {
            out->shortest = out->length[k];
        }
        out->starts[text[0]] |= 1ULL << k;
        if (text[0] >= 'a' && text[0] <= 'z') {
            out->starts[text[0] - 'a' + 'A'] |= 1ULL << k;
        }
    }
    return 1;
}

PyDoc_STRVAR(json_keys_check_doc,
"json_keys_check(data, max_depth, needles, /)\n--\n\n"
"`json_check(data, max_depth)` and, in the same pass, a look at each object key:\n"
"0 where json_check gives 0; 2 where some key holds one of `needles` (a tuple of at\n"
"most 64 non-empty lowercase ASCII bytes) in any ASCII case, or an escape, or a byte\n"
"past ASCII, so that it may name a private field; else 1.");

static PyObject *
json_keys_check(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "json_keys_check expected 3 arguments, got %zd", nargs);
        return NULL;
    }
    int max_depth;
    if (!data_and_depth(args, "json_keys_check", &max_depth)) {
        return NULL;
    }
    Needles needles;
    if (!fill_needles(args[2], &needles, "json_keys_check")) {
        return NULL;
    }
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    int flagged = 0;
    int ok = check_json_keys(data, data + PyBytes_GET_SIZE(args[0]), max_depth, &needles,
                             &flagged);
    return PyLong_FromLong(ok ? 1 + flagged : 0);
}

PyDoc_STRVAR(contains_any_doc,
"contains_any(data, needles, /)\n--\n\n"
"Whether any of `needles` (a tuple of non-empty lowercase ASCII bytes) occurs in\n"
"`data` in any ASCII letter case: `any(n in data.lower() for n in needles)`, in one\n"
"pass and with no copy.");

static PyObject *
contains_any(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "contains_any() takes exactly 2 arguments");
        return NULL;
    }
    PyObject *data = args[0];
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "contains_any() takes bytes and a tuple of bytes");
        return NULL;
    }
    Needles needles;
    if (!fill_needles(args[1], &needles, "contains_any")) {
        return NULL;
    }
    const unsigned char *text = (const unsigned char *)PyBytes_AS_STRING(data);
    if (holds_needle(text, text + PyBytes_GET_SIZE(data), &needles, 0)) {
        Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

PyDoc_STRVAR(reads_alike_doc,
"reads_alike(data, max_opening, max_digits, /)\n--\n\n"
"Whether the bytes `data` hold fewer than `max_opening` of '{' and '[' together and\n"
"no run of `max_digits` or more ASCII digits, in one pass: the check `moesif send`\n"
"makes before it lets orjson read a line (`_records._fast_reads_alike`).");

static PyObject *
reads_alike(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "reads_alike() takes bytes and two ints");
        return NULL;
    }
    Py_ssize_t max_opening = PyLong_AsSsize_t(args[1]);
    if (max_opening == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t max_digits = PyLong_AsSsize_t(args[2]);
    if (max_digits == -1 && PyErr_Occurred()) {
        return NULL;
    }
    const unsigned char *text = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t opening = 0, run = 0;
    if (max_opening <= 0 || max_digits <= 0) {
        Py_RETURN_FALSE;
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        unsigned char c = text[i];
        if (c >= '0' && c <= '9') {
            if (++run >= max_digits) {
                Py_RETURN_FALSE;
            }
            continue;
        }
        run = 0;
        if ((c == '{' || c == '[') && ++opening >= max_opening) {
            Py_RETURN_FALSE;
        }
    }
    Py_RETURN_TRUE;
}

/* --- encode_model, encode_models: models straight to JSON, with no dict between --- */

/* A model's plan, made once per class by `_wire._make_plans` (`model_plan`): for each
 * field on the wire, in the order the hooks write them, where its slot is, its key text
 * (`"name":`), what kind of value it holds, and the plan of a nested model. The writer
 * handles the common values only: None, bools, exact str, exact int within 64 bits,
 * exact dict with str keys, exact list and tuple, UTC datetimes, and nested models of
 * exactly the planned class. For anything else (a float, a subclass, bytes, a datetime
 * in metadata, nesting past the depth limit, a slot left empty) it declines, and the
 * Python path encodes the item: the bytes are the same either way, which
 * tests/test_speedups.py checks. It never calls back into Python. */

enum {
    F_VALUE,       /* any JSON value, written even when None */
    F_OPT_VALUE,   /* left out when None */
    F_TIME,        /* a UTC datetime */
    F_OPT_TIME,
    F_MODEL,       /* a nested model of the planned class */
    F_OPT_MODEL,
    F_OPT_BODY,    /* as F_OPT_VALUE, but bytes (base64 on the wire) are declined */
    F_OPT_MODELS,  /* a list of models of the planned class */
    F_KINDS
};

#define PLAN_CAPSULE "moesifapi._speedups.plan"

typedef struct {
    Py_ssize_t offset;  /* of the slot in the instance */
    int kind;
    PyObject *key;      /* bytes: the key, quoted, with its colon */
    PyObject *nested;   /* the plan capsule of a nested model, or NULL */
} FieldPlan;

typedef struct {
    PyTypeObject *cls;
    Py_ssize_t count;
    FieldPlan fields[1];
} ModelPlan;

#define WRITE_OK 0
#define WRITE_ERROR (-1)
#define WRITE_DECLINE 1

/* The output: a PyBytes resized as it grows (`bytes` set), or the module's scratch
 * buffer (`bytes` NULL), copied to right-sized bytes at the end. */
typedef struct {
    PyObject *bytes;
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
    int max_depth;
} Out;

static char *scratch;
static Py_ssize_t scratch_cap;
/* The scratch buffer kept between calls; a larger one is freed after its call. */
#define SCRATCH_KEEP (256 * 1024)

static int
out_grow(Out *o, Py_ssize_t more)
{
    if (more > PY_SSIZE_T_MAX / 2 - o->len) {
        PyErr_NoMemory();
        return WRITE_ERROR;
    }
    Py_ssize_t cap = o->cap < 64 ? 64 : o->cap;
    while (cap < o->len + more) {
        cap *= 2;
    }
    if (o->bytes != NULL) {
        if (_PyBytes_Resize(&o->bytes, cap) < 0) {
            return WRITE_ERROR;
        }
        o->data = PyBytes_AS_STRING(o->bytes);
    }
    else {
        char *grown = PyMem_Realloc(scratch, (size_t)cap);
        if (grown == NULL) {
            PyErr_NoMemory();
            return WRITE_ERROR;
        }
        scratch = o->data = grown;
        scratch_cap = cap;
    }
    o->cap = cap;
    return WRITE_OK;
}

#define NEED(o, n)                                                           \
    do {                                                                     \
        if ((o)->len + (Py_ssize_t)(n) > (o)->cap && out_grow((o), (n)) < 0) \
            return WRITE_ERROR;                                              \
    } while (0)

static inline void
put(Out *o, const char *text, Py_ssize_t n)
{
    memcpy(o->data + o->len, text, (size_t)n);
    o->len += n;
}

/* For each byte: 0 where it stands for itself in a JSON string (printable ASCII but
 * the quote and the backslash, and every byte of a multi-byte UTF-8 sequence), else the
 * letter of its escape, 'u' for \u00XX. The escapes are orjson's and the standard
 * library's alike. Filled in by the module's init. */
static char escape_letter[256];

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Whether any of the 8 bytes in `x` needs an escape: below 0x20, '"' or '\\'. */
static inline int
word_needs_escape(uint64_t x)
{
    uint64_t below = (x - ONES * 0x20) & ~x;
    uint64_t quote = x ^ (ONES * '"');
    uint64_t slash = x ^ (ONES * '\\');
    quote = (quote - ONES) & ~quote;
    slash = (slash - ONES) & ~slash;
    return ((below | quote | slash) & HIGHS) != 0;
}

/* Whether some byte of text[0:n] needs an escape, 8 bytes at a time: the last word
 * overlaps the one before it, and a text shorter than 8 is padded with letters. */
static inline int
text_needs_escape(const char *text, Py_ssize_t n)
{
    uint64_t word;
    if (n < 8) {
        word = ONES * 'a';
        memcpy(&word, text, (size_t)n);
        return word_needs_escape(word);
    }
    Py_ssize_t j = 0;
    for (; j + 8 < n; j += 8) {
        memcpy(&word, text + j, 8);
        if (word_needs_escape(word)) {
            return 1;
        }
    }
    memcpy(&word, text + n - 8, 8);
    return word_needs_escape(word);
}

static int
write_utf8(Out *o, const char *text, Py_ssize_t n)
{
    static const char hex[] = "0123456789abcdef";
    NEED(o, n + 2);
    o->data[o->len++] = '"';
    if (!text_needs_escape(text, n)) { /* nearly every text: copied whole */
        put(o, text, n);
        o->data[o->len++] = '"';
        return WRITE_OK;
    }
    Py_ssize_t i = 0;
    while (i < n) {
        Py_ssize_t j = i;
        while (j + 8 <= n) {
            uint64_t word;
            memcpy(&word, text + j, 8);
            if (word_needs_escape(word)) {
                break;
            }
            j += 8;
        }
        while (j < n && !escape_letter[(unsigned char)text[j]]) {
            j++;
        }
        put(o, text + i, j - i);
        if (j == n) {
            break;
        }
        /* The escape, and room for the rest of the text and its closing quote. */
        NEED(o, 6 + (n - j));
        unsigned char c = (unsigned char)text[j];
        char letter = escape_letter[c];
        o->data[o->len++] = '\\';
        o->data[o->len++] = letter;
        if (letter == 'u') {
            o->data[o->len++] = '0';
            o->data[o->len++] = '0';
            o->data[o->len++] = hex[c >> 4];
            o->data[o->len++] = hex[c & 15];
        }
        i = j + 1;
    }
    o->data[o->len++] = '"';
    return WRITE_OK;
}

static int
write_text(Out *o, PyObject *text)
{
    Py_ssize_t n;
    if (PyUnicode_IS_COMPACT_ASCII(text)) { /* its bytes are its UTF-8 */
        return write_utf8(o, (const char *)PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text));
    }
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &n);
    if (utf8 == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            PyErr_Clear(); /* a lone surrogate: orjson refuses it, the Python path says why */
            return WRITE_DECLINE;
        }
        return WRITE_ERROR;
    }
    return write_utf8(o, utf8, n);
}

static int
write_int(Out *o, PyObject *value)
{
    int overflow;
    unsigned long long magnitude;
    int negative = 0;
    long long signed_value = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow == 0) {
        if (signed_value == -1 && PyErr_Occurred()) {
            return WRITE_ERROR;
        }
        negative = signed_value < 0;
        magnitude = negative ? 0ULL - (unsigned long long)signed_value
                             : (unsigned long long)signed_value;
    }
    else if (overflow > 0) { /* orjson writes up to 2**64 - 1 */
        magnitude = PyLong_AsUnsignedLongLong(value);
        if (magnitude == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            return WRITE_DECLINE;
        }
    }
    else {
        return WRITE_DECLINE;
    }
    char digits[24];
    int at = (int)sizeof(digits);
    do {
        digits[--at] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    if (negative) {
        digits[--at] = '-';
    }
    NEED(o, sizeof(digits) - at);
    put(o, digits + at, (Py_ssize_t)sizeof(digits) - at);
    return WRITE_OK;
}

static int
write_time(Out *o, PyObject *value)
{
    if (!PyDateTime_CheckExact(value) || PyDateTime_DATE_GET_TZINFO(value) != utc) {
        return WRITE_DECLINE; /* written by `_wire._format_model_time` */
    }
    NEED(o, TIME_TEXT_LENGTH + 2);
    Py_UCS1 *out = (Py_UCS1 *)o->data + o->len;
    out[0] = '"';
    write_digits(out + 1, PyDateTime_GET_YEAR(value), 4);
    out[5] = '-';
    write_digits(out + 6, PyDateTime_GET_MONTH(value), 2);
    out[8] = '-';
    write_digits(out + 9, PyDateTime_GET_DAY(value), 2);
    out[11] = 'T';
    write_digits(out + 12, PyDateTime_DATE_GET_HOUR(value), 2);
    out[14] = ':';
    write_digits(out + 15, PyDateTime_DATE_GET_MINUTE(value), 2);
    out[17] = ':';
    write_digits(out + 18, PyDateTime_DATE_GET_SECOND(value), 2);
    out[20] = '.';
    write_digits(out + 21, PyDateTime_DATE_GET_MICROSECOND(value) / 1000, 3);
    out[24] = 'Z';
    out[25] = '"';
    o->len += TIME_TEXT_LENGTH + 2;
    return WRITE_OK;
}

/* `value`, inside a container at `depth` (the model itself is at 1). */
static int
write_value(Out *o, PyObject *value, int depth)
{
    int result;
    if (value == Py_None) {
        NEED(o, 4);
        put(o, "null", 4);
        return WRITE_OK;
    }
    if (value == Py_True) {
        NEED(o, 4);
        put(o, "true", 4);
        return WRITE_OK;
    }
    if (value == Py_False) {
        NEED(o, 5);
        put(o, "false", 5);
        return WRITE_OK;
    }
    if (PyUnicode_CheckExact(value)) {
        return write_text(o, value);
    }
    if (PyLong_CheckExact(value)) {
        return write_int(o, value);
    }
    if (PyDict_CheckExact(value)) {
        if (depth + 1 > o->max_depth) {
            return WRITE_DECLINE; /* the Python path finds where, and refuses it */
        }
        NEED(o, 2);
        o->data[o->len++] = '{';
        Py_ssize_t pos = 0;
        PyObject *key, *item;
        int first = 1;
        while (PyDict_Next(value, &pos, &key, &item)) {
            if (!PyUnicode_CheckExact(key)) {
                return WRITE_DECLINE;
            }
            if (!first) {
                NEED(o, 1);
                o->data[o->len++] = ',';
            }
            first = 0;
            if ((result = write_text(o, key)) != WRITE_OK) {
                return result;
            }
            NEED(o, 1);
            o->data[o->len++] = ':';
            if ((result = write_value(o, item, depth + 1)) != WRITE_OK) {
                return result;
            }
        }
        NEED(o, 1);
        o->data[o->len++] = '}';
        return WRITE_OK;
    }
    if (PyList_CheckExact(value) || PyTuple_CheckExact(value)) {
        if (depth + 1 > o->max_depth) {
            return WRITE_DECLINE;
        }
        NEED(o, 2);
        o->data[o->len++] = '[';
        Py_ssize_t size = PySequence_Fast_GET_SIZE(value);
        PyObject **items = PySequence_Fast_ITEMS(value);
        for (Py_ssize_t k = 0; k < size; k++) {
            if (k > 0) {
                NEED(o, 1);
                o->data[o->len++] = ',';
            }
            if ((result = write_value(o, items[k], depth + 1)) != WRITE_OK) {
                return result;
            }
        }
        NEED(o, 1);
        o->data[o->len++] = ']';
        return WRITE_OK;
    }
    return WRITE_DECLINE; /* floats, subclasses, datetimes, decimals, bytes, ... */
}

static int write_model(Out *o, PyObject *model, const ModelPlan *plan, int depth);

static int
write_field(Out *o, PyObject *value, const FieldPlan *field, int depth)
{
    switch (field->kind) {
    case F_TIME:
    case F_OPT_TIME:
        return write_time(o, value);
    case F_MODEL:
    case F_OPT_MODEL: {
        const ModelPlan *nested = PyCapsule_GetPointer(field->nested, PLAN_CAPSULE);
        if (nested == NULL) {
            return WRITE_ERROR;
        }
        if (Py_TYPE(value) != nested->cls) {
            return WRITE_DECLINE;
        }
        return write_model(o, value, nested, depth + 1);
    }
    case F_OPT_MODELS: {
        const ModelPlan *nested = PyCapsule_GetPointer(field->nested, PLAN_CAPSULE);
        if (nested == NULL) {
            return WRITE_ERROR;
        }
        if (!PyList_CheckExact(value) || depth + 1 > o->max_depth) {
            return WRITE_DECLINE;
        }
        NEED(o, 2);
        o->data[o->len++] = '[';
        for (Py_ssize_t k = 0; k < PyList_GET_SIZE(value); k++) {
            PyObject *item = PyList_GET_ITEM(value, k);
            if (Py_TYPE(item) != nested->cls) {
                return WRITE_DECLINE;
            }
            if (k > 0) {
                NEED(o, 1);
                o->data[o->len++] = ',';
            }
            int result = write_model(o, item, nested, depth + 2);
            if (result != WRITE_OK) {
                return result;
            }
        }
        NEED(o, 1);
        o->data[o->len++] = ']';
        return WRITE_OK;
    }
    case F_OPT_BODY:
        if (PyBytes_Check(value)) {
            return WRITE_DECLINE; /* base64, by `_wire._encode_body` */
        }
        return write_value(o, value, depth);
    default:
        return write_value(o, value, depth);
    }
}

/* `model`, of exactly `plan->cls`, as a JSON object at `depth`. */
static int
write_model(Out *o, PyObject *model, const ModelPlan *plan, int depth)
{
    if (depth > o->max_depth) {
        return WRITE_DECLINE;
    }
    NEED(o, 2);
    o->data[o->len++] = '{';
    int first = 1;
    for (Py_ssize_t k = 0; k < plan->count; k++) {
        const FieldPlan *field = &plan->fields[k];
        PyObject *value = *(PyObject **)((char *)model + field->offset);
        if (value == NULL) {
            return WRITE_DECLINE; /* an empty slot: the Python path raises for it */
        }
        if (value == Py_None && field->kind != F_VALUE) {
            if (field->kind == F_OPT_VALUE || field->kind == F_OPT_TIME ||
                field->kind == F_OPT_MODEL || field->kind == F_OPT_BODY ||
                field->kind == F_OPT_MODELS) {
                continue;
            }
            return WRITE_DECLINE; /* a required time or model set to None */
        }
        Py_ssize_t key_length = PyBytes_GET_SIZE(field->key);
        NEED(o, key_length + 1);
        if (!first) {
            o->data[o->len++] = ',';
        }
        first = 0;
        put(o, PyBytes_AS_STRING(field->key), key_length);
        int result = write_field(o, value, field, depth);
        if (result != WRITE_OK) {
            return result;
        }
    }
    NEED(o, 1);
    o->data[o->len++] = '}';
    return WRITE_OK;
}

static void
plan_free(PyObject *capsule)
{
    ModelPlan *plan = PyCapsule_GetPointer(capsule, PLAN_CAPSULE);
    if (plan == NULL) {
        PyErr_Clear();
        return;
    }
    for (Py_ssize_t k = 0; k < plan->count; k++) {
        Py_XDECREF(plan->fields[k].key);
        Py_XDECREF(plan->fields[k].nested);
    }
    Py_XDECREF(plan->cls);
    PyMem_Free(plan);
}

PyDoc_STRVAR(model_plan_doc,
"model_plan(cls, fields, /)\n--\n\n"
"The plan `encode_model` writes instances of the slotted class `cls` by. `fields` is a\n"
"list of (name, key, kind, nested): the attribute's name (a slot of `cls`), its key as\n"
"bytes (`\"name\":`), its kind (see `_wire._PLAN_KINDS`) and, for a nested model, the\n"
"plan of that model's class, else None. TypeError or ValueError where any of it does\n"
"not hold.");

static PyObject *
model_plan(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyType_Check(args[0]) || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "model_plan() takes a class and a list");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[0];
    PyObject *fields = args[1];
    Py_ssize_t count = PyList_GET_SIZE(fields);
    ModelPlan *plan = PyMem_Calloc(1, sizeof(ModelPlan) + sizeof(FieldPlan) * (size_t)count);
    if (plan == NULL) {
        return PyErr_NoMemory();
    }
    PyObject *capsule = PyCapsule_New(plan, PLAN_CAPSULE, plan_free);
    if (capsule == NULL) {
        PyMem_Free(plan);
        return NULL;
    }
    Py_INCREF(cls);
    plan->cls = cls;
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *entry = PyList_GET_ITEM(fields, k);
        PyObject *name, *key, *nested;
        int kind;
        if (!PyTuple_Check(entry) ||
            !PyArg_ParseTuple(entry, "USiO", &name, &key, &kind, &nested)) {
            PyErr_SetString(PyExc_TypeError, "model_plan() fields are (str, bytes, int, plan)");
            goto fail;
        }
        if (kind < 0 || kind >= F_KINDS) {
            PyErr_Format(PyExc_ValueError, "model_plan(): no field kind %d", kind);
            goto fail;
        }
        int needs_plan = kind == F_MODEL || kind == F_OPT_MODEL || kind == F_OPT_MODELS;
        if (needs_plan != (nested != Py_None) ||
            (needs_plan && PyCapsule_GetPointer(nested, PLAN_CAPSULE) == NULL)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError, "model_plan(): a nested model needs its plan");
            goto fail;
        }
        /* The slot's own descriptor, in the class itself: an object pointer that is
         * unset until assigned (T_OBJECT_EX), at an offset inside the instance. */
        PyObject *descr = PyDict_GetItemWithError(cls->tp_dict, name);
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type) ||
            ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX ||
            ((PyMemberDescrObject *)descr)->d_common.d_type != cls) {
            if (!PyErr_Occurred()) {
                PyErr_Format(PyExc_TypeError, "model_plan(): %R is not a slot of %R", name, cls);
            }
            goto fail;
        }
        FieldPlan *field = &plan->fields[k];
        field->offset = ((PyMemberDescrObject *)descr)->d_member->offset;
        field->kind = kind;
        Py_INCREF(key);
        field->key = key;
        if (needs_plan) {
            Py_INCREF(nested);
            field->nested = nested;
        }
        plan->count = k + 1;
    }
    return capsule;
fail:
    Py_DECREF(capsule);
    return NULL;
}

/* The plan for `model`'s exact class in the dict `plans`: 1 found, 0 none, -1 error. */
static int
find_plan(PyObject *plans, PyObject *model, const ModelPlan **plan)
{
    PyObject *capsule = PyDict_GetItemWithError(plans, (PyObject *)Py_TYPE(model));
    if (capsule == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    *plan = PyCapsule_GetPointer(capsule, PLAN_CAPSULE);
    return *plan == NULL ? -1 : 1;
}

static int
plans_and_depth(PyObject *const *args, const char *caller, int *max_depth)
{
    if (!PyDict_Check(args[1])) {
        PyErr_Format(PyExc_TypeError, "%s() plans must be a dict", caller);
        return 0;
    }
    long depth = PyLong_AsLong(args[2]);
    if (depth == -1 && PyErr_Occurred()) {
        return 0;
    }
    *max_depth = depth < 0 ? 0 : depth > 1000 ? 1000 : (int)depth;
    return 1;
}

PyDoc_STRVAR(encode_model_doc,
"encode_model(model, plans, max_depth, /)\n--\n\n"
"The model as `_wire.encode_item` writes it (compact JSON, right-sized bytes), by the\n"
"plan of its exact class in the dict `plans`; None where there is none, or where the\n"
"model holds anything the plan's writer leaves to the Python path.");

static PyObject *
encode_model(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "encode_model expected 3 arguments, got %zd", nargs);
        return NULL;
    }
    Out o = {NULL, NULL, 0, 0, 0};
    if (!plans_and_depth(args, "encode_model", &o.max_depth)) {
        return NULL;
    }
    const ModelPlan *plan;
    int found = find_plan(args[1], args[0], &plan);
    if (found <= 0) {
        if (found < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    if (scratch == NULL) {
        scratch = PyMem_Malloc(4096);
        if (scratch == NULL) {
            return PyErr_NoMemory();
        }
        scratch_cap = 4096;
    }
    o.data = scratch;
    o.cap = scratch_cap;
    int result = write_model(&o, args[0], plan, 1);
    PyObject *out = NULL;
    if (result == WRITE_OK) {
        out = PyBytes_FromStringAndSize(scratch, o.len);
    }
    else if (result == WRITE_DECLINE) {
        out = Py_None;
        Py_INCREF(out);
    }
    if (scratch_cap > SCRATCH_KEEP) {
        PyMem_Free(scratch);
        scratch = NULL;
        scratch_cap = 0;
    }
    return out;
}

PyDoc_STRVAR(encode_models_doc,
"encode_models(models, plans, max_depth, fallback, /)\n--\n\n"
"The list `models` as one JSON array and the size of each item: each written as\n"
"`encode_model` writes it, or, where that gives None, as `fallback(model, index)`\n"
"(bytes) gives it. The array is `[a,b,c]`, so each item is a slice of it.");

static PyObject *
encode_models(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "encode_models expected 4 arguments, got %zd", nargs);
        return NULL;
    }
    Out o = {NULL, NULL, 0, 0, 0};
    if (!PyList_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "encode_models() models must be a list");
        return NULL;
    }
    if (!plans_and_depth(args, "encode_models", &o.max_depth)) {
        return NULL;
    }
    PyObject *models = args[0], *fallback = args[3];
    Py_ssize_t count = PyList_GET_SIZE(models);
    PyObject *sizes = PyList_New(0);
    if (sizes == NULL) {
        return NULL;
    }
    o.cap = 1200 * (count < 16 ? 16 : count) + 2;
    o.bytes = PyBytes_FromStringAndSize(NULL, o.cap);
    if (o.bytes == NULL) {
        goto fail;
    }
    o.data = PyBytes_AS_STRING(o.bytes);
    o.data[o.len++] = '[';
    /* The list may change size while `fallback` runs Python code: read it each time. */
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(models); k++) {
        PyObject *model = PyList_GET_ITEM(models, k);
        Py_ssize_t start = o.len;
        if (k > 0) {
            if ((o.len + 1 > o.cap && out_grow(&o, 1) < 0)) {
                goto fail;
            }
            o.data[o.len++] = ',';
            start = o.len;
        }
        const ModelPlan *plan;
        int found = find_plan(args[1], model, &plan);
        if (found < 0) {
            goto fail;
        }
        int result = found ? write_model(&o, model, plan, 1) : WRITE_DECLINE;
        if (result == WRITE_ERROR) {
            goto fail;
        }
        if (result == WRITE_DECLINE) {
            o.len = start;
            Py_INCREF(model); /* held while Python code runs */
            PyObject *index = PyLong_FromSsize_t(k);
            PyObject *encoded =
                index == NULL ? NULL : PyObject_CallFunctionObjArgs(fallback, model, index, NULL);
            Py_XDECREF(index);
            Py_DECREF(model);
            if (encoded == NULL) {
                goto fail;
            }
            if (!PyBytes_Check(encoded)) {
                Py_DECREF(encoded);
                PyErr_SetString(PyExc_TypeError, "encode_models() fallback must return bytes");
                goto fail;
            }
            Py_ssize_t n = PyBytes_GET_SIZE(encoded);
            if (o.len + n > o.cap && out_grow(&o, n) < 0) {
                Py_DECREF(encoded);
                goto fail;
            }
            put(&o, PyBytes_AS_STRING(encoded), n);
            Py_DECREF(encoded);
        }
        PyObject *size = PyLong_FromSsize_t(o.len - start);
        if (size == NULL || PyList_Append(sizes, size) < 0) {
            Py_XDECREF(size);
            goto fail;
        }
        Py_DECREF(size);
    }
    if (o.len + 1 > o.cap && out_grow(&o, 1) < 0) {
        goto fail;
    }
    o.data[o.len++] = ']';
    if (_PyBytes_Resize(&o.bytes, o.len) < 0) {
        goto fail;
    }
    PyObject *pair = PyTuple_Pack(2, o.bytes, sizes);
    Py_DECREF(o.bytes);
    Py_DECREF(sizes);
    return pair;
fail:
    Py_XDECREF(o.bytes);
    Py_DECREF(sizes);
    return NULL;
}

/* --- the capture's event writer ---
 *
 * `capture_event` writes the event `Capture.record_plain` writes (its Python path is the
 * twin: tests/integrations/test_capture_writer.py holds the two to the same bytes) from
 * what an adapter saw, as it saw it: the header pairs as the server gave them, the
 * captured bodies, the two times. It takes the common exchange only and declines the
 * rest to the Python path: a header name or a content type not yet seen there (both
 * are remembered by `Capture`, in the dicts the plan holds), a header value past ASCII,
 * a repeated header that is not private, an encoded body, a body over the cap, any body
 * but JSON with nothing to mask, a time not in UTC, a lone surrogate. */

#define CAPTURE_CAPSULE "moesifapi._speedups.capture_plan"
#define MAX_EVENT_HEADERS 64

typedef struct {
    Needles needles;
    int use_needles; /* 0: no JSON body is checked here; each goes to the Python path */
    int body_depth;
    Py_ssize_t max_body;
    int log_body;
    PyObject *markers;     /* the tuple the needles borrow from */
    PyObject *names;       /* dict: a header's name as it came -> (name, lowercase, private) */
    PyObject *media_kinds; /* dict: a content type -> (media, size only, is JSON, is text) */
    PyObject *mask;        /* str: what a private value is written as */
    PyObject *direction;   /* str */
} CapturePlan;

static PyObject *content_type_key;     /* "content-type" */
static PyObject *content_encoding_key; /* "content-encoding" */
static PyObject *empty_text;           /* "" */

static void
capture_plan_free(PyObject *capsule)
{
    CapturePlan *plan = PyCapsule_GetPointer(capsule, CAPTURE_CAPSULE);
    if (plan == NULL) {
        PyErr_Clear();
        return;
    }
    Py_XDECREF(plan->markers);
    Py_XDECREF(plan->names);
    Py_XDECREF(plan->media_kinds);
    Py_XDECREF(plan->mask);
    Py_XDECREF(plan->direction);
    PyMem_Free(plan);
}

PyDoc_STRVAR(capture_plan_doc,
"capture_plan(names, media_kinds, markers, body_depth, max_body_bytes, log_body, mask,\n"
"             direction, /)\n--\n\n"
"The plan `capture_event` writes one capture's events by. `names` and `media_kinds` are\n"
"the capture's own dicts (read, never written); `markers` the lowercase ASCII needles of\n"
"private field names (a tuple of at most 64 bytes), or None where JSON bodies must\n"
"always be read by the Python path; `mask` the text of a private value.");

static PyObject *
capture_plan(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_Format(PyExc_TypeError, "capture_plan expected 8 arguments, got %zd", nargs);
        return NULL;
    }
    if (!PyDict_Check(args[0]) || !PyDict_Check(args[1]) || !PyUnicode_Check(args[6]) ||
        !PyUnicode_Check(args[7])) {
        PyErr_SetString(PyExc_TypeError,
                        "capture_plan() takes two dicts, ..., a mask and a direction (str)");
        return NULL;
    }
    long depth = PyLong_AsLong(args[3]);
    if (depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t max_body = PyLong_AsSsize_t(args[4]);
    if (max_body == -1 && PyErr_Occurred()) {
        return NULL;
    }
    int log_body = PyObject_IsTrue(args[5]);
    if (log_body < 0) {
        return NULL;
    }
    CapturePlan *plan = PyMem_Calloc(1, sizeof(CapturePlan));
    if (plan == NULL) {
        return PyErr_NoMemory();
    }
    if (args[2] != Py_None) {
        if (!fill_needles(args[2], &plan->needles, "capture_plan")) {
            PyMem_Free(plan);
            return NULL;
        }
        plan->use_needles = 1;
    }
    plan->body_depth = depth < 0 ? -1 : depth > JSON_DEPTH_LIMIT ? JSON_DEPTH_LIMIT : (int)depth;
    plan->max_body = max_body;
    plan->log_body = log_body;
    plan->markers = Py_NewRef(args[2]);
    plan->names = Py_NewRef(args[0]);
    plan->media_kinds = Py_NewRef(args[1]);
    plan->mask = Py_NewRef(args[6]);
    plan->direction = Py_NewRef(args[7]);
    PyObject *capsule = PyCapsule_New(plan, CAPTURE_CAPSULE, capture_plan_free);
    if (capsule == NULL) {
        Py_DECREF(plan->markers);
        Py_DECREF(plan->names);
        Py_DECREF(plan->media_kinds);
        Py_DECREF(plan->mask);
        Py_DECREF(plan->direction);
        PyMem_Free(plan);
    }
    return capsule;
}

#define PUT_LITERAL(o, text)                      \
    do {                                          \
        NEED((o), sizeof(text) - 1);              \
        put((o), (text), sizeof(text) - 1);       \
    } while (0)

/* Whether some byte of text[0:n] is past ASCII, 8 at a time. */
static inline int
has_high_byte(const char *text, Py_ssize_t n)
{
    Py_ssize_t j = 0;
    uint64_t word;
    for (; j + 8 <= n; j += 8) {
        memcpy(&word, text + j, 8);
        if (word & HIGHS) {
            return 1;
        }
    }
    for (; j < n; j++) {
        if ((unsigned char)text[j] >= 0x80) {
            return 1;
        }
    }
    return 0;
}

/* A header value as the Python path reads it: bytes as latin-1 (declined past ASCII,
 * where latin-1 and UTF-8 differ), str as it is. */
static int
write_header_value(Out *o, PyObject *value)
{
    if (PyBytes_CheckExact(value)) {
        const char *data = PyBytes_AS_STRING(value);
        Py_ssize_t n = PyBytes_GET_SIZE(value);
        return has_high_byte(data, n) ? WRITE_DECLINE : write_utf8(o, data, n);
    }
    if (PyUnicode_CheckExact(value)) {
        return write_text(o, value);
    }
    return WRITE_DECLINE;
}

/* What a half's body needs to know of its headers. */
typedef struct {
    PyObject *content_type; /* borrowed: the value (bytes or str), or NULL for none */
    int encoded;            /* a Content-Encoding header is there */
} BodyHeaders;

/* Whether the str `text` is `literal`; the lengths first, which settle nearly every
 * header name. */
static int
text_equals(PyObject *text, PyObject *literal)
{
    return text == literal ||
           (PyUnicode_CheckExact(text) &&
            PyUnicode_GET_LENGTH(text) == PyUnicode_GET_LENGTH(literal) &&
            PyUnicode_Compare(text, literal) == 0);
}

/* `"name":` of an object's member, after a comma unless it is the `first`. */
static int
write_member_name(Out *o, PyObject *name, int first)
{
    if (!first) {
        NEED(o, 1);
        o->data[o->len++] = ',';
    }
    int result = write_text(o, name);
    if (result != WRITE_OK) {
        return result;
    }
    NEED(o, 1);
    o->data[o->len++] = ':';
    return WRITE_OK;
}

/* The items of a list or a tuple, borrowed: 0 for anything else. */
static int
items_of(PyObject *sequence, PyObject *const **items, Py_ssize_t *count)
{
    if (PyList_CheckExact(sequence)) {
        *items = ((PyListObject *)sequence)->ob_item;
        *count = PyList_GET_SIZE(sequence);
        return 1;
    }
    if (PyTuple_CheckExact(sequence)) {
        *items = ((PyTupleObject *)sequence)->ob_item;
        *count = PyTuple_GET_SIZE(sequence);
        return 1;
    }
    return 0;
}

/* `pairs` (a list or tuple of 2-tuples, of bytes or of str) as the event's headers: each
 * name once, as first spelled, its value masked where the name is private. */
static int
write_pairs(Out *o, const CapturePlan *plan, PyObject *pairs, BodyHeaders *found)
{
    PyObject *const *items;
    Py_ssize_t count;
    if (!items_of(pairs, &items, &count)) {
        return WRITE_DECLINE;
    }
    if (count > MAX_EVENT_HEADERS) {
        return WRITE_DECLINE;
    }
    PyObject *keys[MAX_EVENT_HEADERS];
    Py_hash_t hashes[MAX_EVENT_HEADERS];
    Py_ssize_t seen = 0;
    NEED(o, 1);
    o->data[o->len++] = '{';
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *pair = items[k];
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
            return WRITE_DECLINE;
        }
        PyObject *raw = PyTuple_GET_ITEM(pair, 0), *value = PyTuple_GET_ITEM(pair, 1);
        if (!(PyBytes_CheckExact(raw) && PyBytes_CheckExact(value)) &&
            !(PyUnicode_CheckExact(raw) && PyUnicode_CheckExact(value))) {
            return WRITE_DECLINE; /* as the Python path reads them, or not at all */
        }
        PyObject *entry = PyDict_GetItemWithError(plan->names, raw);
        if (entry == NULL) {
            return PyErr_Occurred() ? WRITE_ERROR : WRITE_DECLINE; /* not seen yet */
        }
        if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 3) {
            return WRITE_DECLINE;
        }
        PyObject *name = PyTuple_GET_ITEM(entry, 0), *key = PyTuple_GET_ITEM(entry, 1);
        int private = PyTuple_GET_ITEM(entry, 2) == Py_True;
        if (!PyUnicode_CheckExact(name) || !PyUnicode_CheckExact(key)) {
            return WRITE_DECLINE;
        }
        Py_hash_t hash = PyObject_Hash(key); /* kept by the str once made */
        if (hash == -1) {
            return WRITE_ERROR;
        }
        int repeated = 0;
        for (Py_ssize_t j = 0; j < seen; j++) {
            if (keys[j] == key ||
                (hashes[j] == hash && PyUnicode_Compare(keys[j], key) == 0)) {
                repeated = 1;
                break;
            }
        }
        if (repeated) {
            if (private) {
                continue; /* masked whatever the joined value */
            }
            return WRITE_DECLINE; /* joined by the Python path */
        }
        keys[seen] = key;
        hashes[seen++] = hash;
        if (text_equals(key, content_type_key)) {
            found->content_type = value;
        }
        else if (text_equals(key, content_encoding_key)) {
            found->encoded = 1;
        }
        int result = write_member_name(o, name, seen == 1);
        if (result != WRITE_OK) {
            return result;
        }
        if (private) {
            result = write_text(o, plan->mask);
        }
        else {
            result = write_header_value(o, value);
        }
        if (result != WRITE_OK) {
            return result;
        }
    }
    NEED(o, 1);
    o->data[o->len++] = '}';
    return WRITE_OK;
}

/* `PlainHeaders` (values by lowercase name, the event's headers by name): the second
 * written as it is, the first read for the body. */
static int
write_plain(Out *o, PyObject *plain, BodyHeaders *found)
{
    PyObject *values = PyTuple_GET_ITEM(plain, 0), *shown = PyTuple_GET_ITEM(plain, 1);
    if (!PyDict_CheckExact(values) || !PyDict_CheckExact(shown)) {
        return WRITE_DECLINE;
    }
    found->content_type = PyDict_GetItemWithError(values, content_type_key);
    if (found->content_type == NULL && PyErr_Occurred()) {
        return WRITE_ERROR;
    }
    int encoded = PyDict_Contains(values, content_encoding_key);
    if (encoded < 0) {
        return WRITE_ERROR;
    }
    found->encoded = encoded;
    NEED(o, 1);
    o->data[o->len++] = '{';
    Py_ssize_t at = 0;
    PyObject *name, *value;
    int first = 1;
    while (PyDict_Next(shown, &at, &name, &value)) {
        if (!PyUnicode_CheckExact(name) || !PyUnicode_CheckExact(value)) {
            return WRITE_DECLINE;
        }
        int result = write_member_name(o, name, first);
        first = 0;
        if (result != WRITE_OK) {
            return result;
        }
        result = write_text(o, value);
        if (result != WRITE_OK) {
            return result;
        }
    }
    NEED(o, 1);
    o->data[o->len++] = '}';
    return WRITE_OK;
}

static int
write_headers(Out *o, const CapturePlan *plan, PyObject *headers, BodyHeaders *found)
{
    if (PyTuple_CheckExact(headers) && PyTuple_GET_SIZE(headers) == 2 &&
        PyDict_CheckExact(PyTuple_GET_ITEM(headers, 0))) {
        return write_plain(o, headers, found);
    }
    return write_pairs(o, plan, headers, found);
}

/* The `"body":` of a half, after its other fields (with the comma before it), or
 * nothing: what `Capture._plain_body` gives, for a JSON body with nothing to mask. */
static int
write_body(Out *o, const CapturePlan *plan, PyObject *body, PyObject *size_object,
           const BodyHeaders *found)
{
    Py_ssize_t size = PyLong_AsSsize_t(size_object);
    if (size == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return WRITE_DECLINE;
    }
    if (size == 0 || !plan->log_body) {
        return WRITE_OK;
    }
    if (size > plan->max_body || found->encoded || !PyBytes_CheckExact(body) ||
        !plan->use_needles) {
        return WRITE_DECLINE;
    }
    PyObject *content_type = found->content_type, *made = NULL;
    if (content_type == NULL) {
        content_type = empty_text;
    }
    else if (PyBytes_CheckExact(content_type)) {
        made = content_type = PyUnicode_DecodeLatin1(
            PyBytes_AS_STRING(content_type), PyBytes_GET_SIZE(content_type), NULL);
        if (made == NULL) {
            return WRITE_ERROR;
        }
    }
    else if (!PyUnicode_CheckExact(content_type)) {
        return WRITE_DECLINE;
    }
    PyObject *kind = PyDict_GetItemWithError(plan->media_kinds, content_type);
    Py_XDECREF(made);
    if (kind == NULL) {
        return PyErr_Occurred() ? WRITE_ERROR : WRITE_DECLINE;
    }
    if (!PyTuple_CheckExact(kind) || PyTuple_GET_SIZE(kind) != 4) {
        return WRITE_DECLINE;
    }
    PyObject *media = PyTuple_GET_ITEM(kind, 0);
    if (PyTuple_GET_ITEM(kind, 1) != Py_False || !PyUnicode_CheckExact(media)) {
        return WRITE_DECLINE; /* size only: the marker's text is the Python path's */
    }
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(body);
    const unsigned char *end = data + PyBytes_GET_SIZE(body);
    if (data == end) {
        return WRITE_DECLINE;
    }
    if (PyTuple_GET_ITEM(kind, 2) != Py_True &&
        !(PyUnicode_GET_LENGTH(media) == 0 && (*data == '{' || *data == '['))) {
        return WRITE_DECLINE; /* text as base64, or a marker */
    }
    const unsigned char *first = data;
    while (first < end && (*first == ' ' || (*first >= '\t' && *first <= '\r'))) {
        first++; /* as bytes.lstrip() */
    }
    if (first == end || (*first != '{' && *first != '[')) {
        return WRITE_DECLINE;
    }
    int flagged = 0;
    if (!check_json_keys(data, end, plan->body_depth, &plan->needles, &flagged) || flagged) {
        return WRITE_DECLINE; /* parsed, and masked, by the Python path */
    }
    PUT_LITERAL(o, ",\"body\":");
    NEED(o, end - data);
    put(o, (const char *)data, end - data);
    return WRITE_OK;
}

static int
write_optional_text(Out *o, const char *key, Py_ssize_t key_length, PyObject *value)
{
    if (value == Py_None) {
        return WRITE_OK;
    }
    if (!PyUnicode_CheckExact(value)) {
        return WRITE_DECLINE;
    }
    NEED(o, key_length);
    put(o, key, key_length);
    return write_text(o, value);
}

#define TRY(call)                          \
    do {                                   \
        int result_ = (call);              \
        if (result_ != WRITE_OK)           \
            return result_;                \
    } while (0)

/* The event, in `record_plain`'s order of fields. */
static int
write_capture(Out *o, const CapturePlan *plan, PyObject *const *args)
{
    PyObject *method = args[1], *url = args[2], *ip = args[3], *request_headers = args[4],
             *request_body = args[5], *request_size = args[6], *status = args[7],
             *response_headers = args[8], *response_body = args[9], *response_size = args[10],
             *started = args[11], *ended = args[12], *tid = args[13], *weight = args[14],
             *blocked_by = args[15];
    if (!PyUnicode_CheckExact(method) || !PyUnicode_CheckExact(url) ||
        !PyUnicode_CheckExact(tid) || (status != Py_None && !PyLong_CheckExact(status)) ||
        (weight != Py_None && !PyLong_CheckExact(weight))) {
        return WRITE_DECLINE;
    }
    PUT_LITERAL(o, "{\"request\":{\"time\":");
    TRY(write_time(o, started));
    PUT_LITERAL(o, ",\"uri\":");
    TRY(write_text(o, url));
    PUT_LITERAL(o, ",\"verb\":");
    TRY(write_text(o, method));
    PUT_LITERAL(o, ",\"headers\":");
    BodyHeaders found = {NULL, 0};
    TRY(write_headers(o, plan, request_headers, &found));
    TRY(write_optional_text(o, ",\"ip_address\":", 14, ip));
    TRY(write_body(o, plan, request_body, request_size, &found));
    PUT_LITERAL(o, "},\"transaction_id\":");
    TRY(write_text(o, tid));
    if (status != Py_None && response_headers != Py_None) {
        PUT_LITERAL(o, ",\"response\":{\"time\":");
        TRY(write_time(o, ended));
        PUT_LITERAL(o, ",\"status\":");
        TRY(write_int(o, status));
        PUT_LITERAL(o, ",\"headers\":");
        BodyHeaders answer = {NULL, 0};
        TRY(write_headers(o, plan, response_headers, &answer));
        TRY(write_body(o, plan, response_body, response_size, &answer));
        NEED(o, 1);
        o->data[o->len++] = '}';
    }
    PUT_LITERAL(o, ",\"direction\":");
    TRY(write_text(o, plan->direction));
    if (weight != Py_None) {
        PUT_LITERAL(o, ",\"weight\":");
        TRY(write_int(o, weight));
    }
    TRY(write_optional_text(o, ",\"blocked_by\":", 14, blocked_by));
    NEED(o, 1);
    o->data[o->len++] = '}';
    return WRITE_OK;
}

PyDoc_STRVAR(capture_event_doc,
"capture_event(plan, method, url, ip_address, request_headers, request_body,\n"
"              request_size, status, response_headers, response_body, response_size,\n"
"              started, ended, transaction_id, weight, blocked_by, /)\n--\n\n"
"The event `Capture.record_plain` writes for this exchange, with that `weight`, as\n"
"compact JSON bytes; None where it leaves the exchange to the Python path. Headers are\n"
"a list or tuple of (name, value) pairs, of bytes or of str, as the server gave them,\n"
"or `PlainHeaders`; the response is written when `status` is not None.");

static PyObject *
capture_event(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 16) {
        PyErr_Format(PyExc_TypeError, "capture_event expected 16 arguments, got %zd", nargs);
        return NULL;
    }
    const CapturePlan *plan = PyCapsule_GetPointer(args[0], CAPTURE_CAPSULE);
    if (plan == NULL) {
        return NULL;
    }
    if (scratch == NULL) {
        scratch = PyMem_Malloc(4096);
        if (scratch == NULL) {
            return PyErr_NoMemory();
        }
        scratch_cap = 4096;
    }
    Out o = {NULL, scratch, 0, scratch_cap, 0};
    int result = write_capture(&o, plan, args);
    PyObject *out = NULL;
    if (result == WRITE_OK) {
        out = PyBytes_FromStringAndSize(scratch, o.len);
    }
    else if (result == WRITE_DECLINE) {
        out = Py_NewRef(Py_None);
    }
    if (scratch_cap > SCRATCH_KEEP) {
        PyMem_Free(scratch);
        scratch = NULL;
        scratch_cap = 0;
    }
    return out;
}

PyDoc_STRVAR(pick_headers_doc,
"pick_headers(pairs, names, /)\n--\n\n"
"The values of the headers `names` (a tuple of lowercase ASCII bytes) in the ASGI\n"
"header `pairs`, as `Headers.from_raw(pairs).get(name)` gives them: decoded as latin-1,\n"
"a repeated one joined with \", \", None where there is none. None where `pairs` is not\n"
"a list or tuple of pairs of bytes.");

static PyObject *
pick_headers(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyTuple_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "pick_headers() takes the pairs and a tuple of names");
        return NULL;
    }
    PyObject *pairs = args[0], *names = args[1];
    PyObject *const *items;
    Py_ssize_t count;
    if (!items_of(pairs, &items, &count)) {
        Py_RETURN_NONE;
    }
    Py_ssize_t wanted = PyTuple_GET_SIZE(names);
    for (Py_ssize_t w = 0; w < wanted; w++) {
        if (!PyBytes_CheckExact(PyTuple_GET_ITEM(names, w))) {
            PyErr_SetString(PyExc_TypeError, "pick_headers() names must be bytes");
            return NULL;
        }
    }
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *pair = items[k];
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            !PyBytes_CheckExact(PyTuple_GET_ITEM(pair, 0)) ||
            !PyBytes_CheckExact(PyTuple_GET_ITEM(pair, 1))) {
            Py_RETURN_NONE;
        }
    }
    PyObject *out = PyTuple_New(wanted);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t w = 0; w < wanted; w++) {
        PyObject *want = PyTuple_GET_ITEM(names, w);
        const char *text = PyBytes_AS_STRING(want);
        Py_ssize_t length = PyBytes_GET_SIZE(want);
        PyObject *value = NULL;
        for (Py_ssize_t k = 0; k < count; k++) {
            PyObject *name = PyTuple_GET_ITEM(items[k], 0);
            if (PyBytes_GET_SIZE(name) != length) {
                continue;
            }
            const char *spelled = PyBytes_AS_STRING(name);
            Py_ssize_t j = 0;
            while (j < length && (char)(IS_UPPER(spelled[j]) ? spelled[j] | 0x20 : spelled[j]) == text[j]) {
                j++;
            }
            if (j < length) {
                continue;
            }
            PyObject *raw = PyTuple_GET_ITEM(items[k], 1);
            PyObject *decoded = PyUnicode_DecodeLatin1(PyBytes_AS_STRING(raw),
                                                       PyBytes_GET_SIZE(raw), NULL);
            if (decoded == NULL) {
                Py_XDECREF(value);
                Py_DECREF(out);
                return NULL;
            }
            if (value == NULL) {
                value = decoded;
            }
            else {
                PyObject *joined = PyUnicode_FromFormat("%U, %U", value, decoded);
                Py_DECREF(value);
                Py_DECREF(decoded);
                if (joined == NULL) {
                    Py_DECREF(out);
                    return NULL;
                }
                value = joined;
            }
        }
        PyTuple_SET_ITEM(out, w, value == NULL ? Py_NewRef(Py_None) : value);
    }
    return out;
}


PyDoc_STRVAR(uuid4_text_doc,
"uuid4_text(bits, /)\n--\n\n"
"The canonical text of the UUID4 made of the low 128 bits of the int `bits`, its\n"
"version and variant set: `models._new_transaction_id`'s text for those bits.");

static PyObject *sixty_four; /* 64, to shift by */

static PyObject *
uuid4_text(PyObject *module, PyObject *bits)
{
    if (!PyLong_Check(bits)) {
        PyErr_SetString(PyExc_TypeError, "uuid4_text() takes an int");
        return NULL;
    }
    unsigned long long low = PyLong_AsUnsignedLongLongMask(bits);
    if (low == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *shifted = PyNumber_Rshift(bits, sixty_four);
    if (shifted == NULL) {
        return NULL;
    }
    unsigned long long high = PyLong_AsUnsignedLongLongMask(shifted);
    Py_DECREF(shifted);
    if (high == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    high = (high & ~(0xFULL << 12)) | (0x4ULL << 12); /* the version, bits 76-79 */
    low = (low & ~(0x3ULL << 62)) | (0x2ULL << 62);   /* the variant, bits 62-63 */
    PyObject *out = PyUnicode_New(36, 127);
    if (out == NULL) {
        return NULL;
    }
    static const char hex[] = "0123456789abcdef";
    Py_UCS1 *text = PyUnicode_1BYTE_DATA(out);
    int at = 0;
    for (int digit = 0; digit < 32; digit++) {
        if (digit == 8 || digit == 12 || digit == 16 || digit == 20) {
            text[at++] = '-';
        }
        unsigned long long word = digit < 16 ? high : low;
        text[at++] = hex[(word >> (4 * (15 - digit % 16))) & 15];
    }
    return out;
}


PyDoc_STRVAR(environ_pairs_doc,
"environ_pairs(environ, names, key, /)\n--\n\n"
"The request headers of a WSGI `environ` as (name, value) pairs, in the order\n"
"`wsgi.plain_request_headers` reads them (the HTTP_ keys, then Content-Type and\n"
"Content-Length), and the value of the header whose lowercase name is `key` (a\n"
"repeated one joined with \", \"), or None: `(pairs, value)`. `names` is the\n"
"middleware's dict of what each environ key is (an entry, or () for no header); None\n"
"where it does not know a key yet.");

static PyObject *cgi_keys[2], *cgi_copies[2], *cgi_names[2], *cgi_lowered[2];

/* Append (name, value) and join `value` onto `*given` when `lowered` is `key`. */
static int
add_environ_pair(PyObject *pairs, PyObject *name, PyObject *lowered, PyObject *value,
                 PyObject *key, PyObject **given)
{
    PyObject *pair = PyTuple_Pack(2, name, value);
    if (pair == NULL || PyList_Append(pairs, pair) < 0) {
        Py_XDECREF(pair);
        return -1;
    }
    Py_DECREF(pair);
    if (key != Py_None && lowered != NULL) {
        int same = PyUnicode_Compare(lowered, key) == 0;
        if (same) {
            if (*given == NULL) {
                *given = Py_NewRef(value);
            }
            else {
                PyObject *joined = PyUnicode_FromFormat("%U, %U", *given, value);
                if (joined == NULL) {
                    return -1;
                }
                Py_SETREF(*given, joined);
            }
        }
    }
    return 0;
}

static PyObject *
environ_pairs(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyDict_Check(args[0]) || !PyDict_Check(args[1]) ||
        (args[2] != Py_None && !PyUnicode_Check(args[2]))) {
        PyErr_SetString(PyExc_TypeError,
                        "environ_pairs() takes the environ, the names and a key or None");
        return NULL;
    }
    PyObject *environ = args[0], *names = args[1], *key = args[2];
    PyObject *pairs = PyList_New(0), *given = NULL;
    if (pairs == NULL) {
        return NULL;
    }
    Py_ssize_t at = 0;
    PyObject *environ_key, *value;
    while (PyDict_Next(environ, &at, &environ_key, &value)) {
        if (!PyUnicode_CheckExact(environ_key)) {
            goto unknown; /* no Python code runs here: a key's __eq__ could change it */
        }
        PyObject *entry = PyDict_GetItemWithError(names, environ_key);
        if (entry == NULL) {
            if (PyErr_Occurred()) {
                goto fail;
            }
            goto unknown;
        }
        if (!PyTuple_CheckExact(entry)) {
            goto unknown;
        }
        if (PyTuple_GET_SIZE(entry) == 0 || !PyUnicode_Check(value)) {
            continue; /* no header, or not text */
        }
        if (PyTuple_GET_SIZE(entry) != 3 || !PyUnicode_CheckExact(PyTuple_GET_ITEM(entry, 1))) {
            goto unknown;
        }
        if (add_environ_pair(pairs, PyTuple_GET_ITEM(entry, 0), PyTuple_GET_ITEM(entry, 1), value,
                             key, &given) < 0) {
            goto fail;
        }
    }
    for (int k = 0; k < 2; k++) {
        PyObject *found = PyDict_GetItemWithError(environ, cgi_keys[k]);
        if (found == NULL && PyErr_Occurred()) {
            goto fail;
        }
        if (found != NULL && !PyUnicode_Check(found)) {
            goto unknown; /* the Python path says what comes of it */
        }
        if (found == NULL || PyUnicode_GET_LENGTH(found) == 0) {
            found = PyDict_GetItemWithError(environ, cgi_copies[k]);
            if (found == NULL) {
                if (PyErr_Occurred()) {
                    goto fail;
                }
                continue;
            }
        }
        if (!PyUnicode_Check(found)) {
            goto unknown; /* the Python path says what comes of it */
        }
        if (add_environ_pair(pairs, cgi_names[k], cgi_lowered[k], found, key, &given) < 0) {
            goto fail;
        }
    }
    PyObject *out = PyTuple_Pack(2, pairs, given == NULL ? Py_None : given);
    Py_DECREF(pairs);
    Py_XDECREF(given);
    return out;
unknown:
    Py_DECREF(pairs);
    Py_XDECREF(given);
    Py_RETURN_NONE;
fail:
    Py_DECREF(pairs);
    Py_XDECREF(given);
    return NULL;
}

/* --- BodyTap: the first `limit` bytes of a body that passes by in chunks, and its size --- */

typedef struct {
    PyObject_HEAD
    Py_ssize_t limit;
    Py_ssize_t size;
    Py_ssize_t room; /* what more may be kept */
    PyObject *chunks; /* list of the chunks kept (a slice of the last one where it was cut) */
} BodyTapObject;

static int
body_tap_init(BodyTapObject *self, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"limit", NULL};
    Py_ssize_t limit;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n:BodyTap", keywords, &limit)) {
        return -1;
    }
    PyObject *chunks = PyList_New(0);
    if (chunks == NULL) {
        return -1;
    }
    Py_XSETREF(self->chunks, chunks);
    self->limit = limit;
    self->size = 0;
    self->room = limit;
    return 0;
}

static int
body_tap_traverse(BodyTapObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->chunks);
    return 0;
}

static int
body_tap_clear(BodyTapObject *self)
{
    Py_CLEAR(self->chunks);
    return 0;
}

static void
body_tap_dealloc(BodyTapObject *self)
{
    PyObject_GC_UnTrack(self);
    body_tap_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* `feed`'s work, for the C callers too: 0, or -1 with an exception set. */
static int
body_tap_take(BodyTapObject *self, PyObject *chunk)
{
    Py_ssize_t n = PyBytes_CheckExact(chunk) ? PyBytes_GET_SIZE(chunk) : PyObject_Length(chunk);
    if (n < 0) {
        return -1;
    }
    if (self->chunks == NULL) {
        PyErr_SetString(PyExc_ValueError, "BodyTap was not initialized");
        return -1;
    }
    self->size += n;
    Py_ssize_t room = self->room;
    if (room > 0 && n) {
        PyObject *kept;
        if (n > room) {
            kept = PyBytes_CheckExact(chunk)
                       ? PyBytes_FromStringAndSize(PyBytes_AS_STRING(chunk), room)
                       : PySequence_GetSlice(chunk, 0, room);
            if (kept == NULL) {
                return -1;
            }
            n = room;
        }
        else {
            kept = Py_NewRef(chunk);
        }
        int appended = PyList_Append(self->chunks, kept);
        Py_DECREF(kept);
        if (appended < 0) {
            return -1;
        }
        self->room = room - n;
    }
    return 0;
}

static PyObject *
body_tap_feed(BodyTapObject *self, PyObject *chunk)
{
    if (body_tap_take(self, chunk) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *empty_bytes; /* b"" */

/* `captured`'s work, for the C callers too: a new reference, or NULL with an exception. */
static PyObject *
body_tap_bytes(BodyTapObject *self)
{
    if (self->chunks == NULL) {
        PyErr_SetString(PyExc_ValueError, "BodyTap was not initialized");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(self->chunks);
    if (count == 0) {
        return Py_NewRef(empty_bytes);
    }
    if (count > 1) {
        PyObject *joined = PyObject_CallMethod(empty_bytes, "join", "O", self->chunks);
        if (joined == NULL) {
            return NULL;
        }
        PyObject *one = PyList_New(1);
        if (one == NULL) {
            Py_DECREF(joined);
            return NULL;
        }
        PyList_SET_ITEM(one, 0, joined);
        Py_SETREF(self->chunks, one);
    }
    return Py_NewRef(PyList_GET_ITEM(self->chunks, 0));
}

static PyObject *
body_tap_captured(BodyTapObject *self, PyObject *Py_UNUSED(ignored))
{
    return body_tap_bytes(self);
}

static PyObject *
body_tap_truncated(BodyTapObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->size > self->limit - self->room);
}

/* `BodyTap(limit)` with no tuple of arguments built (calls of the type itself). */
static PyObject *
body_tap_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames != NULL || nargs != 1 || !PyLong_CheckExact(args[0])) {
        /* the general call: a keyword, a wrong count, an index that is no int */
        PyObject *tuple = PyTuple_New(nargs);
        if (tuple == NULL) {
            return NULL;
        }
        for (Py_ssize_t i = 0; i < nargs; i++) {
            PyTuple_SET_ITEM(tuple, i, Py_NewRef(args[i]));
        }
        PyObject *kwargs = NULL;
        if (kwnames != NULL) {
            kwargs = PyDict_New();
            for (Py_ssize_t k = 0; kwargs != NULL && k < PyTuple_GET_SIZE(kwnames); k++) {
                if (PyDict_SetItem(kwargs, PyTuple_GET_ITEM(kwnames, k), args[nargs + k]) < 0) {
                    Py_CLEAR(kwargs);
                }
            }
            if (kwargs == NULL) {
                Py_DECREF(tuple);
                return NULL;
            }
        }
        PyObject *self = ((PyTypeObject *)type)->tp_new((PyTypeObject *)type, tuple, kwargs);
        if (self != NULL && body_tap_init((BodyTapObject *)self, tuple, kwargs) < 0) {
            Py_CLEAR(self);
        }
        Py_DECREF(tuple);
        Py_XDECREF(kwargs);
        return self;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(args[0]);
    if (limit == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *chunks = PyList_New(0);
    if (chunks == NULL) {
        return NULL;
    }
    BodyTapObject *self = (BodyTapObject *)((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type, 0);
    if (self == NULL) {
        Py_DECREF(chunks);
        return NULL;
    }
    self->chunks = chunks;
    self->limit = limit;
    self->size = 0;
    self->room = limit;
    return (PyObject *)self;
}

static PyMethodDef body_tap_methods[] = {
    {"feed", (PyCFunction)body_tap_feed, METH_O,
     "feed(chunk, /)\n--\n\nCount `chunk` and keep what of it fits under the limit."},
    {"captured", (PyCFunction)body_tap_captured, METH_NOARGS,
     "captured()\n--\n\nThe bytes kept: the first `limit` of the body."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef body_tap_members[] = {
    {"limit", T_PYSSIZET, offsetof(BodyTapObject, limit), READONLY, "the most bytes kept"},
    {"size", T_PYSSIZET, offsetof(BodyTapObject, size), READONLY, "the bytes fed, in all"},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef body_tap_getset[] = {
    {"truncated", (getter)body_tap_truncated, NULL, "whether more was fed than kept", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject BodyTapType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "moesifapi._speedups.BodyTap",
    .tp_doc = PyDoc_STR("BodyTap(limit)\n--\n\nThe first `limit` bytes of a body that passes "
                        "by in chunks, and its full size (the C twin of "
                        "moesifapi.integrations._capture.BodyTap)."),
    .tp_basicsize = sizeof(BodyTapObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)body_tap_init,
    .tp_vectorcall = body_tap_vectorcall,
    .tp_dealloc = (destructor)body_tap_dealloc,
    .tp_traverse = (traverseproc)body_tap_traverse,
    .tp_clear = (inquiry)body_tap_clear,
    .tp_methods = body_tap_methods,
    .tp_members = body_tap_members,
    .tp_getset = body_tap_getset,
};

/* The exception set now, taken (NULL for none); and set again: 3.12's
 * PyErr_GetRaisedException and PyErr_SetRaisedException, on the Pythons before it too. */
static PyObject *
raised_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    if (type == NULL) {
        return NULL;
    }
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL && value != NULL) {
        PyException_SetTraceback(value, traceback);
    }
    Py_XDECREF(type);
    Py_XDECREF(traceback);
    return value;
#endif
}

static void
raise_again(PyObject *error)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(error);
#else
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(error)), error, PyException_GetTraceback(error));
#endif
}

/* --- AsgiExchange: the base of the ASGI adapter's exchange, with `send` in C --- */

typedef struct {
    PyObject_HEAD
    PyObject *server_send;
    PyObject *response_tap;
    PyObject *status;
    PyObject *response_headers;
    PyObject *extra_headers;
    PyObject *url;
    /* the rest of the exchange, for `record` */
    PyObject *middleware;
    PyObject *scope;
    PyObject *app_receive;
    PyObject *started;
    PyObject *request_headers;
    PyObject *plain;
    PyObject *request_tap;
    PyObject *buffered;
    PyObject *tid;
    char trailers;
    char finished;
    char recorded;
    char disconnected;
} AsgiExchangeObject;

#define ASGI_FIELDS(X) \
    X(server_send) X(response_tap) X(status) X(response_headers) X(extra_headers) X(url) \
    X(middleware) X(scope) X(app_receive) X(started) X(request_headers) X(plain) \
    X(request_tap) X(buffered) X(tid)

static PyObject *asgi_names[4]; /* "type", "body", "more_body", "status" */
static PyObject *asgi_more_names[3]; /* "trailers", "headers", "more_trailers" */
static PyObject *asgi_methods[3]; /* "_send_any", "record", "_report" */

static int
asgi_exchange_traverse(AsgiExchangeObject *self, visitproc visit, void *arg)
{
#define VISIT_FIELD(name) Py_VISIT(self->name);
    ASGI_FIELDS(VISIT_FIELD)
#undef VISIT_FIELD
    return 0;
}

static int
asgi_exchange_clear(AsgiExchangeObject *self)
{
#define CLEAR_FIELD(name) Py_CLEAR(self->name);
    ASGI_FIELDS(CLEAR_FIELD)
#undef CLEAR_FIELD
    return 0;
}

static void
asgi_exchange_dealloc(AsgiExchangeObject *self)
{
    PyObject_GC_UnTrack(self);
    asgi_exchange_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A flag of a message as `bool(message.get(key, False))` reads it: 1 or 0; -1 where it
 * is neither missing, None nor a bool (the Python path then reads the message); -2 with
 * an exception set. */
static int
message_flag(PyObject *message, PyObject *key)
{
    PyObject *value = PyDict_GetItemWithError(message, key);
    if (value == NULL) {
        return PyErr_Occurred() ? -2 : 0;
    }
    if (value == Py_True) {
        return 1;
    }
    return value == Py_False || value == Py_None ? 0 : -1;
}

/* The exchange's `_report(error)` for the exception set now (the message goes on). */
static int
asgi_report(AsgiExchangeObject *self)
{
    PyObject *error = raised_exception();
    if (error == NULL) {
        return 0;
    }
    if (!PyErr_GivenExceptionMatches(error, PyExc_Exception)) {
        raise_again(error); /* not an Exception: it propagates */
        return -1;
    }
    PyObject *done = PyObject_CallMethodOneArg((PyObject *)self, asgi_methods[2], error);
    Py_DECREF(error);
    Py_XDECREF(done);
    return done == NULL ? -1 : 0;
}

/* What `_send_any` does to the exchange for a message of a common shape, the message
 * sent in its place written to `*sent` (a new reference). 1 where done; 0 where the
 * message is of another shape, untouched, for `_send_any`; -1 with an exception set. */
static int
asgi_watch(AsgiExchangeObject *self, PyObject *message, PyObject **sent)
{
    PyObject *kind = PyDict_GetItemWithError(message, asgi_names[0]);
    if (kind == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        *sent = Py_NewRef(message);
        return 1; /* no type: nothing to see */
    }
    if (!PyUnicode_CheckExact(kind)) {
        return 0;
    }
    if (PyUnicode_CompareWithASCIIString(kind, "http.response.body") == 0) {
        PyObject *body = PyDict_GetItemWithError(message, asgi_names[1]);
        if (body == NULL && PyErr_Occurred()) {
            return -1;
        }
        int more = message_flag(message, asgi_names[2]);
        if (more == -2) {
            return -1;
        }
        if (more == -1 || (body != NULL && body != Py_None && !PyBytes_CheckExact(body)) ||
            (self->response_tap == NULL || !Py_IS_TYPE(self->response_tap, &BodyTapType))) {
            return 0;
        }
        if (body != NULL && body != Py_None && PyBytes_GET_SIZE(body) > 0 &&
            body_tap_take((BodyTapObject *)self->response_tap, body) < 0 && asgi_report(self) < 0) {
            return -1;
        }
        if (!more && !self->trailers) {
            self->finished = 1;
        }
        *sent = Py_NewRef(message);
        return 1;
    }
    if (PyUnicode_CompareWithASCIIString(kind, "http.response.start") == 0) {
        PyObject *status = PyDict_GetItemWithError(message, asgi_names[3]);
        if (status == NULL && PyErr_Occurred()) {
            return -1;
        }
        int trailers = message_flag(message, asgi_more_names[0]);
        if (trailers == -2) {
            return -1;
        }
        PyObject *headers = PyDict_GetItemWithError(message, asgi_more_names[1]);
        if (headers == NULL && PyErr_Occurred()) {
            return -1;
        }
        if (status == NULL || !PyLong_CheckExact(status) || trailers == -1 ||
            (headers != NULL && headers != Py_None && !PyList_CheckExact(headers) &&
             !PyTuple_CheckExact(headers)) ||
            self->extra_headers == NULL || !PyList_CheckExact(self->extra_headers)) {
            return 0;
        }
        PyObject *copied = headers == NULL || headers == Py_None ? PyList_New(0)
                                                                  : PySequence_List(headers);
        if (copied == NULL) {
            return asgi_report(self) < 0 ? -1 : (*sent = Py_NewRef(message), 1);
        }
        Py_XSETREF(self->status, Py_NewRef(status));
        self->trailers = (char)trailers;
        PyObject *out = Py_NewRef(message);
        if (PyList_GET_SIZE(self->extra_headers) > 0) {
            PyObject *copy = NULL;
            if (PyList_SetSlice(copied, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, self->extra_headers) < 0 ||
                (copy = PyDict_Copy(message)) == NULL ||
                PyDict_SetItem(copy, asgi_more_names[1], copied) < 0) {
                Py_XDECREF(copy);
                Py_DECREF(copied);
                Py_DECREF(out);
                return asgi_report(self) < 0 ? -1 : (*sent = Py_NewRef(message), 1);
            }
            Py_SETREF(out, copy);
        }
        Py_XSETREF(self->response_headers, copied);
        *sent = out;
        return 1;
    }
    if (PyUnicode_CompareWithASCIIString(kind, "http.response.trailers") == 0) {
        int more = message_flag(message, asgi_more_names[2]);
        if (more == -2) {
            return -1;
        }
        if (more == -1) {
            return 0;
        }
        if (!more) {
            self->finished = 1;
        }
    }
    else if (PyUnicode_CompareWithASCIIString(kind, "http.response.pathsend") == 0) {
        self->finished = 1;
    }
    *sent = Py_NewRef(message);
    return 1;
}

static PyObject *
asgi_exchange_send(AsgiExchangeObject *self, PyObject *message)
{
    PyObject *sent = NULL;
    int watched = PyDict_CheckExact(message) ? asgi_watch(self, message, &sent) : 0;
    if (watched < 0) {
        return NULL;
    }
    if (watched == 0) {
        return PyObject_CallMethodOneArg((PyObject *)self, asgi_methods[0], message);
    }
    if (self->finished && !self->recorded) {
        /* recorded as the last message goes to the server (`_send_any` says why) */
        PyObject *done = PyObject_CallMethodNoArgs((PyObject *)self, asgi_methods[1]);
        if (done == NULL) {
            Py_DECREF(sent);
            return NULL;
        }
        Py_DECREF(done);
    }
    if (self->server_send == NULL) {
        Py_DECREF(sent);
        PyErr_SetString(PyExc_AttributeError, "server_send");
        return NULL;
    }
    PyObject *result = PyObject_CallOneArg(self->server_send, sent);
    Py_DECREF(sent);
    return result;
}

static PyObject *asgi_record_names[9]; /* "capture", "client", "method", "GET",
    "record_plain", "_record_now", "_record_views", "_record_failed", "now" */
static PyObject *datetime_now; /* datetime.datetime.now */

/* `record`'s work on the common exchange once it is marked recorded: the event written
 * and queued by `capture.record_plain`, or handed to `_record_views` where that says the
 * views must decide. 0, or -1 with an exception set. 1 where the exchange is of another
 * shape, untouched, for `_record_now`. */
static int
asgi_record_plain(AsgiExchangeObject *self, PyObject *code, PyObject *blocked_by)
{
    PyObject *scope = self->scope, *plain = self->plain;
    if (scope == NULL || !PyDict_CheckExact(scope) || plain == NULL || plain == Py_None ||
        self->request_tap == NULL || !Py_IS_TYPE(self->request_tap, &BodyTapType) ||
        self->response_tap == NULL || !Py_IS_TYPE(self->response_tap, &BodyTapType) ||
        self->middleware == NULL || self->url == NULL || self->started == NULL ||
        self->tid == NULL || self->response_headers == NULL) {
        return 1;
    }
    PyObject *client = PyDict_GetItemWithError(scope, asgi_record_names[1]);
    if (client == NULL && PyErr_Occurred()) {
        return -1;
    }
    PyObject *method = PyDict_GetItemWithError(scope, asgi_record_names[2]);
    if (method == NULL && PyErr_Occurred()) {
        return -1;
    }
    /* `client[0] if client else None`, `scope.get("method") or "GET"` */
    PyObject *peer = Py_None;
    if (client != NULL && client != Py_None) {
        if (!PyTuple_CheckExact(client) && !PyList_CheckExact(client)) {
            return 1;
        }
        if (PySequence_Fast_GET_SIZE(client) > 0) {
            peer = PySequence_Fast_GET_ITEM(client, 0);
        }
    }
    if (method == NULL || method == Py_None ||
        (PyUnicode_CheckExact(method) && PyUnicode_GET_LENGTH(method) == 0)) {
        method = asgi_record_names[3];
    }
    else if (!PyUnicode_CheckExact(method)) {
        return 1;
    }
    PyObject *ended = PyObject_CallOneArg(datetime_now, utc);
    if (ended == NULL) {
        return -1;
    }
    BodyTapObject *request_tap = (BodyTapObject *)self->request_tap;
    BodyTapObject *response_tap = (BodyTapObject *)self->response_tap;
    PyObject *capture = PyObject_GetAttr(self->middleware, asgi_record_names[0]);
    PyObject *request_body = capture == NULL ? NULL : body_tap_bytes(request_tap);
    PyObject *request_size = request_body == NULL ? NULL : PyLong_FromSsize_t(request_tap->size);
    PyObject *response_body = request_size == NULL ? NULL : body_tap_bytes(response_tap);
    PyObject *response_size =
        response_body == NULL ? NULL : PyLong_FromSsize_t(response_tap->size);
    int result = -1;
    if (response_size != NULL) {
        PyObject *args[15] = {
            capture, method, self->url, peer, plain, request_body, request_size, code,
            code == Py_None ? Py_None : self->response_headers, response_body, response_size,
            self->started, ended, self->tid, blocked_by};
        PyObject *queued = PyObject_VectorcallMethod(
            asgi_record_names[4], args, 15 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        if (queued != NULL) {
            result = 0;
            if (queued == Py_None) { /* the views decide */
                PyObject *done = PyObject_CallMethodObjArgs(
                    (PyObject *)self, asgi_record_names[6], code, ended, blocked_by, NULL);
                result = done == NULL ? -1 : 0;
                Py_XDECREF(done);
            }
            Py_DECREF(queued);
        }
    }
    Py_XDECREF(capture);
    Py_XDECREF(request_body);
    Py_XDECREF(request_size);
    Py_XDECREF(response_body);
    Py_XDECREF(response_size);
    Py_DECREF(ended);
    return result;
}

static PyObject *
asgi_exchange_record(AsgiExchangeObject *self, PyObject *const *args, Py_ssize_t nargsf,
                     PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *status = nargs > 0 ? args[0] : Py_None;
    PyObject *blocked_by = nargs > 1 ? args[1] : Py_None;
    if (nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "record() takes at most the status and blocked_by");
        return NULL;
    }
    Py_ssize_t keywords = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < keywords; k++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, k);
        if (PyUnicode_CompareWithASCIIString(name, "status") == 0 && nargs < 1) {
            status = args[nargs + k];
        }
        else if (PyUnicode_CompareWithASCIIString(name, "blocked_by") == 0 && nargs < 2) {
            blocked_by = args[nargs + k];
        }
        else {
            PyErr_Format(PyExc_TypeError, "record() got an unexpected argument %R", name);
            return NULL;
        }
    }
    if (self->recorded) {
        Py_RETURN_NONE;
    }
    self->recorded = 1;
    PyObject *code = status != Py_None ? status : self->status != NULL ? self->status : Py_None;
    Py_INCREF(code);
    int done = asgi_record_plain(self, code, blocked_by);
    if (done == 1) { /* another shape: the Python path */
        PyObject *rest = PyObject_CallMethodObjArgs((PyObject *)self, asgi_record_names[5],
                                                    code, blocked_by, NULL);
        Py_DECREF(code);
        return rest;
    }
    Py_DECREF(code);
    if (done < 0) {
        /* a failure of the capture, never of the request: logged (`_record_failed`) */
        PyObject *error = raised_exception();
        if (error == NULL || !PyErr_GivenExceptionMatches(error, PyExc_Exception)) {
            if (error != NULL) {
                raise_again(error);
            }
            return NULL;
        }
        PyObject *logged =
            PyObject_CallMethodOneArg((PyObject *)self, asgi_record_names[7], error);
        Py_DECREF(error);
        if (logged == NULL) {
            return NULL;
        }
        Py_DECREF(logged);
    }
    Py_RETURN_NONE;
}

static PyObject *asgi_init_names[3]; /* "_exchange_plan", "_init_any", "headers" */

static PyObject *pick_headers(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
static PyObject *asgi_url(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* `_Exchange(middleware, scope, receive, send)`: the common exchange set up here, from
 * the middleware's `_exchange_plan`; any other (no plan, a scope that is no dict,
 * headers that are not pairs of bytes) by the subclass's `_init_any`. */
static int
asgi_exchange_init(AsgiExchangeObject *self, PyObject *args, PyObject *kwds)
{
    if (kwds != NULL && PyDict_GET_SIZE(kwds) > 0) {
        PyErr_SetString(PyExc_TypeError, "_Exchange() takes no keyword arguments");
        return -1;
    }
    if (!PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "_Exchange() takes the middleware, the scope, receive and send");
        return -1;
    }
    PyObject *middleware = PyTuple_GET_ITEM(args, 0), *scope = PyTuple_GET_ITEM(args, 1);
    PyObject *plan = PyObject_GetAttr(middleware, asgi_init_names[0]);
    if (plan == NULL) {
        return -1;
    }
    /* (no-body tap, picked names, body limit, transaction id header, choose the id, url) */
    PyObject *raw = NULL;
    if (PyTuple_CheckExact(plan) && PyTuple_GET_SIZE(plan) == 6 && PyDict_CheckExact(scope)) {
        raw = PyDict_GetItemWithError(scope, asgi_init_names[2]);
        if (raw == NULL && PyErr_Occurred()) {
            Py_DECREF(plan);
            return -1;
        }
    }
    PyObject *plain = NULL;
    if (PyTuple_CheckExact(plan) && PyTuple_GET_SIZE(plan) == 6 && PyDict_CheckExact(scope)) {
        if (raw == NULL || raw == Py_None) {
            plain = PyTuple_New(0);
        }
        else if (PyTuple_CheckExact(raw)) {
            plain = Py_NewRef(raw);
        }
        else if (PyList_CheckExact(raw)) {
            /* the server's, copied (`scope.get("headers") or ()`: none is a tuple) */
            plain = PyList_GET_SIZE(raw) == 0 ? PyTuple_New(0)
                                               : PyList_GetSlice(raw, 0, PyList_GET_SIZE(raw));
        }
        if (plain == NULL && PyErr_Occurred()) {
            Py_DECREF(plan);
            return -1;
        }
    }
    PyObject *picked = NULL;
    if (plain != NULL) {
        PyObject *pick_args[2] = {plain, PyTuple_GET_ITEM(plan, 1)};
        picked = pick_headers(NULL, pick_args, 2);
        if (picked == NULL) {
            Py_DECREF(plain);
            Py_DECREF(plan);
            return -1;
        }
        if (picked == Py_None) {
            Py_CLEAR(picked);
        }
    }
    if (picked == NULL) { /* another shape: the Python path */
        Py_XDECREF(plain);
        Py_DECREF(plan);
        PyObject *done = PyObject_CallMethodObjArgs(
            (PyObject *)self, asgi_init_names[1], middleware, scope, PyTuple_GET_ITEM(args, 2),
            PyTuple_GET_ITEM(args, 3), NULL);
        Py_XDECREF(done);
        return done == NULL ? -1 : 0;
    }
    PyObject *host = PyTuple_GET_ITEM(picked, 0);
    PyObject *given = PyTuple_GET_SIZE(picked) > 1 ? PyTuple_GET_ITEM(picked, 1) : Py_None;
    PyObject *started = PyObject_CallOneArg(datetime_now, utc);
    PyObject *url = NULL, *tap = NULL, *tid = NULL, *extra = NULL, *headers = NULL;
    if (started != NULL) {
        PyObject *url_args[2] = {scope, host};
        url = asgi_url(NULL, url_args, 2);
        if (url == Py_None) {
            Py_SETREF(url, PyObject_Vectorcall(PyTuple_GET_ITEM(plan, 5), url_args, 2, NULL));
        }
    }
    if (url != NULL) {
        PyObject *limit = PyTuple_GET_ITEM(plan, 2);
        tap = PyObject_Vectorcall((PyObject *)&BodyTapType, &limit, 1, NULL);
    }
    if (tap != NULL) {
        tid = PyObject_CallOneArg(PyTuple_GET_ITEM(plan, 4), given);
    }
    if (tid != NULL) {
        extra = PyList_New(0);
    }
    if (extra != NULL) {
        headers = PyList_New(0);
    }
    int ok = headers != NULL;
    PyObject *tid_header = PyTuple_GET_ITEM(plan, 3);
    if (ok && tid_header != Py_None) {
        PyObject *value = PyUnicode_CheckExact(tid) ? PyUnicode_AsLatin1String(tid) : NULL;
        PyObject *pair = value == NULL ? NULL : PyTuple_Pack(2, tid_header, value);
        ok = pair != NULL && PyList_Append(extra, pair) == 0;
        if (value == NULL && !PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "the transaction id is not a str");
        }
        Py_XDECREF(value);
        Py_XDECREF(pair);
    }
    if (ok) {
        Py_XSETREF(self->middleware, Py_NewRef(middleware));
        Py_XSETREF(self->scope, Py_NewRef(scope));
        Py_XSETREF(self->app_receive, Py_NewRef(PyTuple_GET_ITEM(args, 2)));
        Py_XSETREF(self->server_send, Py_NewRef(PyTuple_GET_ITEM(args, 3)));
        Py_XSETREF(self->started, Py_NewRef(started));
        Py_XSETREF(self->request_headers, Py_NewRef(Py_None));
        Py_XSETREF(self->plain, Py_NewRef(plain));
        Py_XSETREF(self->url, Py_NewRef(url));
        Py_XSETREF(self->request_tap, Py_NewRef(PyTuple_GET_ITEM(plan, 0)));
        Py_XSETREF(self->response_tap, Py_NewRef(tap));
        Py_XSETREF(self->buffered, Py_NewRef(Py_None));
        Py_XSETREF(self->status, Py_NewRef(Py_None));
        Py_XSETREF(self->response_headers, Py_NewRef(headers));
        Py_XSETREF(self->tid, Py_NewRef(tid));
        Py_XSETREF(self->extra_headers, Py_NewRef(extra));
        self->disconnected = self->trailers = self->finished = self->recorded = 0;
    }
    Py_XDECREF(started);
    Py_XDECREF(url);
    Py_XDECREF(tap);
    Py_XDECREF(tid);
    Py_XDECREF(extra);
    Py_XDECREF(headers);
    Py_DECREF(picked);
    Py_DECREF(plain);
    Py_DECREF(plan);
    return ok ? 0 : -1;
}

static PyMethodDef asgi_exchange_methods[] = {
    {"send", (PyCFunction)asgi_exchange_send, METH_O,
     "send(message, /)\n--\n\nThe app's `send`: the message seen, then handed to the "
     "server's; what the app awaits is the server's own."},
    {"record", (PyCFunction)(void (*)(void))asgi_exchange_record,
     METH_FASTCALL | METH_KEYWORDS,
     "record(status=None, blocked_by=None)\n--\n\nQueue the event, once; never raises "
     "(a failure is logged)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef asgi_exchange_members[] = {
#define MEMBER(name) {#name, T_OBJECT_EX, offsetof(AsgiExchangeObject, name), 0, NULL},
    ASGI_FIELDS(MEMBER)
#undef MEMBER
    {"trailers", T_BOOL, offsetof(AsgiExchangeObject, trailers), 0, NULL},
    {"finished", T_BOOL, offsetof(AsgiExchangeObject, finished), 0, NULL},
    {"recorded", T_BOOL, offsetof(AsgiExchangeObject, recorded), 0, NULL},
    {"disconnected", T_BOOL, offsetof(AsgiExchangeObject, disconnected), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject AsgiExchangeType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "moesifapi._speedups.AsgiExchange",
    .tp_doc = PyDoc_STR("The base of moesifapi.integrations.asgi._Exchange: the fields "
                        "`send` reads and writes, and `send` itself for messages of the "
                        "common shapes (the subclass's `_send_any` takes the others)."),
    .tp_basicsize = sizeof(AsgiExchangeObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)asgi_exchange_init,
    .tp_dealloc = (destructor)asgi_exchange_dealloc,
    .tp_traverse = (traverseproc)asgi_exchange_traverse,
    .tp_clear = (inquiry)asgi_exchange_clear,
    .tp_methods = asgi_exchange_methods,
    .tp_members = asgi_exchange_members,
};

/* getattr(o, name, None) as 3.13's PyObject_GetOptionalAttr: 1 and the value, 0 and NULL
 * where there is no such attribute, -1 with an exception set. */
static int
optional_attr(PyObject *o, PyObject *name, PyObject **out)
{
    *out = PyObject_GetAttr(o, name);
    if (*out != NULL) {
        return 1;
    }
    if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* --- WsgiBody: the WSGI adapter's response iterable, each chunk copied into the tap --- */

typedef struct {
    PyObject_HEAD
    PyObject *exchange;
    PyObject *iterable;
    PyObject *iterator; /* NULL until the first chunk is asked for */
    PyObject *tap;      /* exchange.response_tap */
} WsgiBodyObject;

static PyObject *wsgi_names[6]; /* "response_tap", "status", "response_headers", "close",
                                   "record", "feed" */
static PyObject *five_hundred; /* 500 */

static int
wsgi_body_traverse(WsgiBodyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->exchange);
    Py_VISIT(self->iterable);
    Py_VISIT(self->iterator);
    Py_VISIT(self->tap);
    return 0;
}

static int
wsgi_body_clear(WsgiBodyObject *self)
{
    Py_CLEAR(self->exchange);
    Py_CLEAR(self->iterable);
    Py_CLEAR(self->iterator);
    Py_CLEAR(self->tap);
    return 0;
}

static void
wsgi_body_dealloc(WsgiBodyObject *self)
{
    PyObject_GC_UnTrack(self);
    wsgi_body_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
wsgi_body_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *exchange, *iterable;
    if ((kwds != NULL && PyDict_GET_SIZE(kwds) > 0) ||
        !PyArg_UnpackTuple(args, type->tp_name, 2, 2, &exchange, &iterable)) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "%s() takes the exchange and the app's iterable",
                         type->tp_name);
        }
        return NULL;
    }
    PyObject *tap = PyObject_GetAttr(exchange, wsgi_names[0]);
    if (tap == NULL) {
        return NULL;
    }
    WsgiBodyObject *self = (WsgiBodyObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        Py_DECREF(tap);
        return NULL;
    }
    self->exchange = Py_NewRef(exchange);
    self->iterable = Py_NewRef(iterable);
    self->tap = tap;
    return (PyObject *)self;
}

static PyObject *
wsgi_body_iternext(WsgiBodyObject *self)
{
    if (self->iterator == NULL) {
        self->iterator = PyObject_GetIter(self->iterable);
        if (self->iterator == NULL) {
            return NULL;
        }
    }
    PyObject *chunk = PyIter_Next(self->iterator);
    if (chunk == NULL) {
        if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_StopIteration)) {
            return NULL; /* the end (a StopIteration goes on as it came) */
        }
        /* The app failed midway: with nothing of the body sent the server answers 500. */
        PyObject *error = raised_exception();
        Py_ssize_t size = -1;
        if (Py_IS_TYPE(self->tap, &BodyTapType)) {
            size = ((BodyTapObject *)self->tap)->size;
        }
        else {
            PyObject *sized = PyObject_GetAttrString(self->tap, "size");
            size = sized == NULL ? -1 : PyLong_AsSsize_t(sized);
            Py_XDECREF(sized);
            PyErr_Clear();
        }
        if (size == 0) {
            PyObject *none = PyList_New(0);
            if (none == NULL || PyObject_SetAttr(self->exchange, wsgi_names[1], five_hundred) < 0 ||
                PyObject_SetAttr(self->exchange, wsgi_names[2], none) < 0) {
                PyErr_Clear();
            }
            Py_XDECREF(none);
        }
        raise_again(error);
        return NULL;
    }
    int fed;
    if (Py_IS_TYPE(self->tap, &BodyTapType)) {
        fed = body_tap_take((BodyTapObject *)self->tap, chunk);
    }
    else {
        PyObject *done = PyObject_CallMethodOneArg(self->tap, wsgi_names[5], chunk);
        fed = done == NULL ? -1 : 0;
        Py_XDECREF(done);
    }
    if (fed < 0) {
        Py_DECREF(chunk);
        return NULL;
    }
    return chunk;
}

static PyObject *
wsgi_body_close(WsgiBodyObject *self, PyObject *Py_UNUSED(ignored))
{
    /* the app's iterable closed (PEP 3333), then, whatever that did, the event queued */
    PyObject *close = NULL;
    int failed = optional_attr(self->iterable, wsgi_names[3], &close) < 0;
    if (close != NULL) {
        PyObject *done = PyObject_CallNoArgs(close);
        failed = done == NULL;
        Py_XDECREF(done);
        Py_DECREF(close);
    }
    PyObject *error = failed ? raised_exception() : NULL;
    PyObject *recorded = PyObject_CallMethodOneArg(self->exchange, wsgi_names[4], Py_None);
    if (error != NULL) {
        if (recorded == NULL) {
            /* as a `finally` that raises: its exception, the first as its context */
            PyObject *later = raised_exception();
            if (later != NULL) {
                PyException_SetContext(later, error); /* steals error */
                raise_again(later);
            }
            else {
                Py_DECREF(error);
            }
            return NULL;
        }
        Py_DECREF(recorded);
        raise_again(error);
        return NULL;
    }
    if (recorded == NULL) {
        return NULL;
    }
    Py_DECREF(recorded);
    Py_RETURN_NONE;
}

static Py_ssize_t
wsgi_body_length(WsgiBodyObject *self)
{
    return PyObject_Length(self->iterable);
}

static PyMethodDef wsgi_body_methods[] = {
    {"close", (PyCFunction)wsgi_body_close, METH_NOARGS,
     "close()\n--\n\nClose the app's iterable (PEP 3333), then queue the event."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject WsgiBodyType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "moesifapi._speedups.WsgiBody",
    .tp_doc = PyDoc_STR("WsgiBody(exchange, iterable)\n--\n\nThe app's iterable passed "
                        "through chunk by chunk and copied into the exchange's response "
                        "tap; `close()` closes it, then records the exchange."),
    .tp_basicsize = sizeof(WsgiBodyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = wsgi_body_new,
    .tp_dealloc = (destructor)wsgi_body_dealloc,
    .tp_traverse = (traverseproc)wsgi_body_traverse,
    .tp_clear = (inquiry)wsgi_body_clear,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)wsgi_body_iternext,
    .tp_methods = wsgi_body_methods,
};

static PySequenceMethods wsgi_sized_body_sequence = {
    .sq_length = (lenfunc)wsgi_body_length,
};

/* Its slots are WsgiBody's (its base), and `len()`. */
static PyTypeObject WsgiSizedBodyType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "moesifapi._speedups.WsgiSizedBody",
    .tp_doc = PyDoc_STR("WsgiSizedBody(exchange, iterable)\n--\n\n`WsgiBody` for a list or "
                        "tuple answer, which keeps its `len()`: servers set Content-Length "
                        "from it."),
    .tp_basicsize = sizeof(WsgiBodyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT, /* the GC flag comes from the base, with its traverse */
    .tp_base = &WsgiBodyType,
    .tp_as_sequence = &wsgi_sized_body_sequence,
};

/* scheme "://" host path, then "?" query unless `query` is NULL: the str of these
 * latin-1 texts, in its narrowest form (ASCII where they all are). */
static PyObject *
latin1_url(const Py_UCS1 *scheme, Py_ssize_t scheme_length, const Py_UCS1 *host,
           Py_ssize_t host_length, const Py_UCS1 *path, Py_ssize_t path_length,
           const Py_UCS1 *query, Py_ssize_t query_length)
{
    const Py_UCS1 *texts[6] = {scheme, (const Py_UCS1 *)"://", host, path,
                               (const Py_UCS1 *)"?", query};
    Py_ssize_t lengths[6] = {scheme_length, 3, host_length, path_length,
                             query == NULL ? 0 : 1, query == NULL ? 0 : query_length};
    Py_ssize_t length = 0;
    Py_UCS4 widest = 0x7f;
    for (int k = 0; k < 6; k++) {
        length += lengths[k];
        for (Py_ssize_t i = 0; widest < 0xff && i < lengths[k]; i++) {
            widest = texts[k][i] >= 0x80 ? 0xff : widest;
        }
    }
    PyObject *url = PyUnicode_New(length, widest);
    if (url == NULL) {
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(url);
    for (int k = 0; k < 6; k++) {
        if (lengths[k]) {
            memcpy(out, texts[k], (size_t)lengths[k]);
            out += lengths[k];
        }
    }
    return url;
}

static PyObject *scope_keys[4]; /* "scheme", "raw_path", "root_path", "query_string" */

/* scope[key] as `scope.get(key)`, borrowed; NULL with no exception where it is missing. */
static inline PyObject *
scope_get(PyObject *scope, int k)
{
    return PyDict_GetItemWithError(scope, scope_keys[k]);
}

PyDoc_STRVAR(asgi_url_doc,
"asgi_url(scope, host, /)\n--\n\n"
"The request's full URL from an ASGI `scope` (a dict) and its Host header `host`, as\n"
"`moesifapi.integrations.asgi._url` writes it, for the common exchange: a non-empty\n"
"`host`, a `raw_path` of bytes, no `root_path`, a `scheme` and `query_string` that are\n"
"str and bytes where given. None for any other, which `_url` writes.");

static PyObject *
asgi_url(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "asgi_url() takes the scope and the host");
        return NULL;
    }
    PyObject *scope = args[0], *host = args[1];
    if (!PyDict_CheckExact(scope) || !PyUnicode_CheckExact(host) ||
        PyUnicode_GET_LENGTH(host) == 0 || PyUnicode_KIND(host) != PyUnicode_1BYTE_KIND) {
        Py_RETURN_NONE;
    }
    PyObject *scheme = scope_get(scope, 0);
    PyObject *raw = scheme == NULL && PyErr_Occurred() ? NULL : scope_get(scope, 1);
    PyObject *root = raw == NULL && PyErr_Occurred() ? NULL : scope_get(scope, 2);
    PyObject *query = root == NULL && PyErr_Occurred() ? NULL : scope_get(scope, 3);
    if (query == NULL && PyErr_Occurred()) {
        return NULL;
    }
    /* `scope.get(key) or default`: missing, None and empty are the default */
    if (scheme == Py_None || (scheme != NULL && PyUnicode_CheckExact(scheme) &&
                              PyUnicode_GET_LENGTH(scheme) == 0)) {
        scheme = NULL;
    }
    if (root == Py_None || (root != NULL && PyUnicode_CheckExact(root) &&
                            PyUnicode_GET_LENGTH(root) == 0)) {
        root = NULL;
    }
    if (query == Py_None || (query != NULL && PyBytes_CheckExact(query) &&
                             PyBytes_GET_SIZE(query) == 0)) {
        query = NULL;
    }
    if (root != NULL || raw == NULL || !PyBytes_CheckExact(raw) || PyBytes_GET_SIZE(raw) == 0 ||
        (query != NULL && !PyBytes_CheckExact(query)) ||
        (scheme != NULL && (!PyUnicode_CheckExact(scheme) ||
                            PyUnicode_KIND(scheme) != PyUnicode_1BYTE_KIND))) {
        Py_RETURN_NONE;
    }
    const char *path = PyBytes_AS_STRING(raw);
    const char *mark = memchr(path, '?', (size_t)PyBytes_GET_SIZE(raw));
    return latin1_url(
        scheme == NULL ? (const Py_UCS1 *)"http" : PyUnicode_1BYTE_DATA(scheme),
        scheme == NULL ? 4 : PyUnicode_GET_LENGTH(scheme), PyUnicode_1BYTE_DATA(host),
        PyUnicode_GET_LENGTH(host), (const Py_UCS1 *)path,
        mark == NULL ? PyBytes_GET_SIZE(raw) : mark - path,
        query == NULL ? NULL : (const Py_UCS1 *)PyBytes_AS_STRING(query),
        query == NULL ? 0 : PyBytes_GET_SIZE(query));
}

static PyObject *environ_keys[5]; /* "wsgi.url_scheme", "HTTP_HOST", "SCRIPT_NAME",
                                     "PATH_INFO", "QUERY_STRING" */

/* environ[key] where it is a str of one byte a character, "" for a missing, None or
 * empty one: 1; 0 for anything else (the Python path's); -1 with an exception set. */
static int
environ_text(PyObject *environ, int k, PyObject **out)
{
    PyObject *value = PyDict_GetItemWithError(environ, environ_keys[k]);
    if (value == NULL && PyErr_Occurred()) {
        return -1;
    }
    if (value == NULL || value == Py_None) {
        *out = NULL;
        return 1;
    }
    if (!PyUnicode_CheckExact(value) || PyUnicode_KIND(value) != PyUnicode_1BYTE_KIND) {
        return 0;
    }
    *out = PyUnicode_GET_LENGTH(value) ? value : NULL;
    return 1;
}

PyDoc_STRVAR(wsgi_url_doc,
"wsgi_url(environ, /)\n--\n\n"
"The request's full URL from a WSGI `environ` (a dict), as\n"
"`moesifapi.integrations.wsgi.request_url` writes it, for the common request: a\n"
"Host header, no SCRIPT_NAME, a PATH_INFO that needs no quoting, texts of latin-1.\n"
"None for any other, which `request_url` writes.");

static PyObject *
wsgi_url(PyObject *module, PyObject *environ)
{
    if (!PyDict_CheckExact(environ)) {
        Py_RETURN_NONE;
    }
    PyObject *texts[5];
    for (int k = 0; k < 5; k++) {
        int found = environ_text(environ, k, &texts[k]);
        if (found <= 0) {
            if (found < 0) {
                return NULL;
            }
            Py_RETURN_NONE;
        }
    }
    PyObject *scheme = texts[0], *host = texts[1], *path = texts[3], *query = texts[4];
    if (host == NULL || texts[2] != NULL) {
        Py_RETURN_NONE; /* no Host header, or a SCRIPT_NAME: the Python path's */
    }
    Py_ssize_t path_length = path == NULL ? 0 : PyUnicode_GET_LENGTH(path);
    const Py_UCS1 *path_text = path == NULL ? NULL : PyUnicode_1BYTE_DATA(path);
    for (Py_ssize_t i = 0; i < path_length; i++) {
        Py_UCS1 c = path_text[i];
        /* what `quote` leaves as it is: letters, digits and "_.~/-" */
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IS_DIGIT(c) || c == '_' ||
              c == '.' || c == '~' || c == '/' || c == '-')) {
            Py_RETURN_NONE;
        }
    }
    return latin1_url(
        scheme == NULL ? (const Py_UCS1 *)"http" : PyUnicode_1BYTE_DATA(scheme),
        scheme == NULL ? 4 : PyUnicode_GET_LENGTH(scheme), PyUnicode_1BYTE_DATA(host),
        PyUnicode_GET_LENGTH(host), path_length ? path_text : (const Py_UCS1 *)"/",
        path_length ? path_length : 1, query == NULL ? NULL : PyUnicode_1BYTE_DATA(query),
        query == NULL ? 0 : PyUnicode_GET_LENGTH(query));
}

static PyMethodDef methods[] = {
    {"utc_millis", utc_millis, METH_O, utc_millis_doc},
    {"has_null", has_null, METH_O, has_null_doc},
    {"count_opening", count_opening_py, METH_O, count_opening_doc},
    {"over_opening", (PyCFunction)(void (*)(void))over_opening, METH_FASTCALL, over_opening_doc},
    {"str_values", str_values, METH_O, str_values_doc},
    {"str_items", str_items, METH_O, str_items_doc},
    {"json_check", (PyCFunction)(void (*)(void))json_check, METH_FASTCALL, json_check_doc},
    {"contains_any", (PyCFunction)(void (*)(void))contains_any, METH_FASTCALL, contains_any_doc},
    {"json_keys_check", (PyCFunction)(void (*)(void))json_keys_check, METH_FASTCALL,
     json_keys_check_doc},
    {"reads_alike", (PyCFunction)(void (*)(void))reads_alike, METH_FASTCALL, reads_alike_doc},
    {"model_plan", (PyCFunction)(void (*)(void))model_plan, METH_FASTCALL, model_plan_doc},
    {"encode_model", (PyCFunction)(void (*)(void))encode_model, METH_FASTCALL, encode_model_doc},
    {"encode_models", (PyCFunction)(void (*)(void))encode_models, METH_FASTCALL,
     encode_models_doc},
    {"capture_plan", (PyCFunction)(void (*)(void))capture_plan, METH_FASTCALL, capture_plan_doc},
    {"capture_event", (PyCFunction)(void (*)(void))capture_event, METH_FASTCALL,
     capture_event_doc},
    {"pick_headers", (PyCFunction)(void (*)(void))pick_headers, METH_FASTCALL, pick_headers_doc},
    {"uuid4_text", uuid4_text, METH_O, uuid4_text_doc},
    {"asgi_url", (PyCFunction)(void (*)(void))asgi_url, METH_FASTCALL, asgi_url_doc},
    {"wsgi_url", wsgi_url, METH_O, wsgi_url_doc},
    {"environ_pairs", (PyCFunction)(void (*)(void))environ_pairs, METH_FASTCALL,
     environ_pairs_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "moesifapi._speedups",
    .m_doc = "Optional C versions of functions of moesifapi._wire and moesifapi._jsoncheck.",
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
    for (int c = 0x20; c < 0x80; c++) {
        string_plain[c] = c != '"' && c != '\\';
    }
    for (int c = 0; c < 0x20; c++) {
        escape_letter[c] = 'u';
    }
    escape_letter['\b'] = 'b';
    escape_letter['\t'] = 't';
    escape_letter['\n'] = 'n';
    escape_letter['\f'] = 'f';
    escape_letter['\r'] = 'r';
    escape_letter['"'] = '"';
    escape_letter['\\'] = '\\';
    utc = PyDateTimeAPI->TimeZone_UTC;
    Py_INCREF(utc);
    content_type_key = PyUnicode_InternFromString("content-type");
    content_encoding_key = PyUnicode_InternFromString("content-encoding");
    empty_text = PyUnicode_InternFromString("");
    sixty_four = PyLong_FromLong(64);
    static const char *const environ_names[5] = {
        "wsgi.url_scheme", "HTTP_HOST", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING"};
    for (int k = 0; k < 5; k++) {
        environ_keys[k] = PyUnicode_InternFromString(environ_names[k]);
        if (environ_keys[k] == NULL) {
            return NULL;
        }
    }
    static const char *const scope_names[4] = {"scheme", "raw_path", "root_path", "query_string"};
    for (int k = 0; k < 4; k++) {
        scope_keys[k] = PyUnicode_InternFromString(scope_names[k]);
        if (scope_keys[k] == NULL) {
            return NULL;
        }
    }
    cgi_keys[0] = PyUnicode_InternFromString("CONTENT_TYPE");
    cgi_keys[1] = PyUnicode_InternFromString("CONTENT_LENGTH");
    cgi_copies[0] = PyUnicode_InternFromString("HTTP_CONTENT_TYPE");
    cgi_copies[1] = PyUnicode_InternFromString("HTTP_CONTENT_LENGTH");
    cgi_names[0] = PyUnicode_InternFromString("Content-Type");
    cgi_names[1] = PyUnicode_InternFromString("Content-Length");
    cgi_lowered[0] = content_type_key;
    cgi_lowered[1] = PyUnicode_InternFromString("content-length");
    for (int k = 0; k < 2; k++) {
        if (cgi_keys[k] == NULL || cgi_copies[k] == NULL || cgi_names[k] == NULL ||
            cgi_lowered[k] == NULL) {
            return NULL;
        }
    }
    if (content_type_key == NULL || content_encoding_key == NULL || empty_text == NULL ||
        sixty_four == NULL) {
        return NULL;
    }
    empty_bytes = PyBytes_FromStringAndSize(NULL, 0);
    if (empty_bytes == NULL || PyType_Ready(&BodyTapType) < 0 ||
        PyType_Ready(&AsgiExchangeType) < 0 || PyType_Ready(&WsgiBodyType) < 0 ||
        PyType_Ready(&WsgiSizedBodyType) < 0) {
        return NULL;
    }
    static const char *const wsgi_texts[6] = {
        "response_tap", "status", "response_headers", "close", "record", "feed"};
    for (int k = 0; k < 6; k++) {
        wsgi_names[k] = PyUnicode_InternFromString(wsgi_texts[k]);
        if (wsgi_names[k] == NULL) {
            return NULL;
        }
    }
    five_hundred = PyLong_FromLong(500);
    if (five_hundred == NULL) {
        return NULL;
    }
    static const char *const asgi_texts[10] = {
        "type", "body", "more_body", "status", "trailers", "headers", "more_trailers",
        "_send_any", "record", "_report"};
    PyObject **asgi_slots[10] = {
        &asgi_names[0], &asgi_names[1], &asgi_names[2], &asgi_names[3], &asgi_more_names[0],
        &asgi_more_names[1], &asgi_more_names[2], &asgi_methods[0], &asgi_methods[1],
        &asgi_methods[2]};
    for (int k = 0; k < 10; k++) {
        *asgi_slots[k] = PyUnicode_InternFromString(asgi_texts[k]);
        if (*asgi_slots[k] == NULL) {
            return NULL;
        }
    }
    static const char *const record_texts[9] = {
        "capture", "client", "method", "GET", "record_plain", "_record_now", "_record_views",
        "_record_failed", "now"};
    for (int k = 0; k < 9; k++) {
        asgi_record_names[k] = PyUnicode_InternFromString(record_texts[k]);
        if (asgi_record_names[k] == NULL) {
            return NULL;
        }
    }
    static const char *const init_texts[3] = {"_exchange_plan", "_init_any", "headers"};
    for (int k = 0; k < 3; k++) {
        asgi_init_names[k] = PyUnicode_InternFromString(init_texts[k]);
        if (asgi_init_names[k] == NULL) {
            return NULL;
        }
    }
    datetime_now = PyObject_GetAttr((PyObject *)PyDateTimeAPI->DateTimeType, asgi_record_names[8]);
    if (datetime_now == NULL) {
        return NULL;
    }
    PyObject *made = PyModule_Create(&module);
    if (made == NULL) {
        return NULL;
    }
    Py_INCREF(&BodyTapType);
    if (PyModule_AddObject(made, "BodyTap", (PyObject *)&BodyTapType) < 0) {
        Py_DECREF(&BodyTapType);
        Py_DECREF(made);
        return NULL;
    }
    PyTypeObject *wsgi_types[2] = {&WsgiBodyType, &WsgiSizedBodyType};
    const char *wsgi_type_names[2] = {"WsgiBody", "WsgiSizedBody"};
    for (int k = 0; k < 2; k++) {
        Py_INCREF(wsgi_types[k]);
        if (PyModule_AddObject(made, wsgi_type_names[k], (PyObject *)wsgi_types[k]) < 0) {
            Py_DECREF(wsgi_types[k]);
            Py_DECREF(made);
            return NULL;
        }
    }
    Py_INCREF(&AsgiExchangeType);
    if (PyModule_AddObject(made, "AsgiExchange", (PyObject *)&AsgiExchangeType) < 0) {
        Py_DECREF(&AsgiExchangeType);
        Py_DECREF(made);
        return NULL;
    }
    return made;
}
