/*
 * flex_ext._speedups: base64url (RFC 7515 section 2, unpadded) for the JOSE compact forms.
 *
 * Optional. flex_ext/jose.py and flex_ext/jwe.py hold the pure-Python versions, give the
 * same results, and are used when this module is not built or FLEX_EXT_PURE_PYTHON=1.
 * The standard library's base64 has no url alphabet, so the pure-Python versions pay for
 * an alphabet translation, padding and several copies; at the size of a JWE that carries
 * a capture context (~2.5 kB of base64url) those copies cost about as much as the
 * RSA-OAEP + AES-GCM work the JWE figure is measured against.
 *
 * What passes through here: the protected header (already base64url), the RSA-encrypted
 * content key, the IV, the AES-GCM ciphertext and tag, the parts of signed JWTs, and (in
 * card_plaintext only) the card data being written into the JWE plaintext, as
 * flex_ext/jwe.py's _card_plaintext_py does in Python. No function keeps or reports what it reads;
 * card_plaintext's scratch buffer is wiped before it is freed, and it reads only exact
 * str and dict objects, so no Python code runs while it walks the data.
 *
 *   encode(data)                                           -> str
 *   decode(text)                                           -> bytes, or None
 *   jwe_compact(header, encrypted_key, iv, sealed)         -> str
 *   card_plaintext(data, shape, required, tail)            -> bytes, or None
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static const char ALPHABET[65] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The value of each byte as a base64url digit; 0xFF for bytes outside the alphabet
   (padding '=' and the standard alphabet's '+' and '/' included). */
static unsigned char VALUE[256];

/* Characters needed for n bytes, or -1 when that would not fit in a Py_ssize_t. */
static Py_ssize_t
encoded_length(Py_ssize_t n)
{
    if (n < 0 || n / 3 > (PY_SSIZE_T_MAX - 3) / 4) {
        return -1;
    }
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

static Py_UCS1 *
encode_into(Py_UCS1 *out, const unsigned char *in, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    for (; n - i >= 3; i += 3) {
        unsigned int v = ((unsigned int)in[i] << 16) | ((unsigned int)in[i + 1] << 8) | in[i + 2];
        out[0] = (Py_UCS1)ALPHABET[v >> 18];
        out[1] = (Py_UCS1)ALPHABET[(v >> 12) & 63];
        out[2] = (Py_UCS1)ALPHABET[(v >> 6) & 63];
        out[3] = (Py_UCS1)ALPHABET[v & 63];
        out += 4;
    }
    if (n - i == 1) {
        unsigned int v = (unsigned int)in[i] << 16;
        out[0] = (Py_UCS1)ALPHABET[v >> 18];
        out[1] = (Py_UCS1)ALPHABET[(v >> 12) & 63];
        out += 2;
    }
    else if (n - i == 2) {
        unsigned int v = ((unsigned int)in[i] << 16) | ((unsigned int)in[i + 1] << 8);
        out[0] = (Py_UCS1)ALPHABET[v >> 18];
        out[1] = (Py_UCS1)ALPHABET[(v >> 12) & 63];
        out[2] = (Py_UCS1)ALPHABET[(v >> 6) & 63];
        out += 3;
    }
    return out;
}

static PyObject *
too_long(void)
{
    PyErr_SetString(PyExc_OverflowError, "data too long to base64url-encode");
    return NULL;
}

static PyObject *
speedups_encode(PyObject *module, PyObject *arg)
{
    Py_buffer data;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t size = encoded_length(data.len);
    if (size < 0) {
        too_long();
    }
    else {
        result = PyUnicode_New(size, 127);
        if (result != NULL) {
            encode_into(PyUnicode_1BYTE_DATA(result), (const unsigned char *)data.buf, data.len);
        }
    }
    PyBuffer_Release(&data);
    return result;
}

static PyObject *
speedups_decode(PyObject *module, PyObject *arg)
{
    const unsigned char *in;
    Py_ssize_t n;
    if (PyBytes_CheckExact(arg)) {
        in = (const unsigned char *)PyBytes_AS_STRING(arg);
        n = PyBytes_GET_SIZE(arg);
    }
    else if (PyUnicode_CheckExact(arg)) {
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(arg) < 0) {
            return NULL;
        }
#endif
        if (!PyUnicode_IS_ASCII(arg)) {
            Py_RETURN_NONE;
        }
        in = PyUnicode_1BYTE_DATA(arg);
        n = PyUnicode_GET_LENGTH(arg);
    }
    else {
        Py_RETURN_NONE;
    }
    Py_ssize_t rem = n % 4;
    if (rem == 1) {
        Py_RETURN_NONE;
    }
    if (rem) {
        unsigned char last = VALUE[in[n - 1]];
        /* Unused low bits of the last character must be zero: one encoding per value. */
        if (last == 0xFF || (last & (rem == 2 ? 0x0F : 0x03))) {
            Py_RETURN_NONE;
        }
    }
    Py_ssize_t size = n / 4 * 3 + (rem ? rem - 1 : 0);
    PyObject *result = PyBytes_FromStringAndSize(NULL, size);
    if (result == NULL) {
        return NULL;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    Py_ssize_t i = 0;
    unsigned int bad = 0;
    for (; n - i >= 4; i += 4) {
        unsigned int a = VALUE[in[i]], b = VALUE[in[i + 1]], c = VALUE[in[i + 2]], d = VALUE[in[i + 3]];
        bad |= a | b | c | d;
        unsigned int v = (a << 18) | (b << 12) | (c << 6) | d;
        out[0] = (unsigned char)(v >> 16);
        out[1] = (unsigned char)(v >> 8);
        out[2] = (unsigned char)v;
        out += 3;
    }
    if (rem == 2) {
        unsigned int a = VALUE[in[i]], b = VALUE[in[i + 1]];
        bad |= a | b;
        out[0] = (unsigned char)((a << 2) | (b >> 4));
    }
    else if (rem == 3) {
        unsigned int a = VALUE[in[i]], b = VALUE[in[i + 1]], c = VALUE[in[i + 2]];
        bad |= a | b | c;
        unsigned int v = (a << 18) | (b << 12) | (c << 6);
        out[0] = (unsigned char)(v >> 16);
        out[1] = (unsigned char)(v >> 8);
    }
    if (bad & 0x80) { /* a byte outside the alphabet (its VALUE is 0xFF) */
        Py_DECREF(result);
        Py_RETURN_NONE;
    }
    return result;
}

static PyObject *
speedups_jwe_compact(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "jwe_compact() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    Py_buffer parts[4];
    int held = 0;
    PyObject *result = NULL;
    for (; held < 4; held++) {
        if (PyObject_GetBuffer(args[held], &parts[held], PyBUF_SIMPLE) < 0) {
            goto done;
        }
    }
    const unsigned char *header = (const unsigned char *)parts[0].buf;
    Py_ssize_t header_len = parts[0].len;
    for (Py_ssize_t i = 0; i < header_len; i++) {
        if (header[i] > 127) {
            PyErr_SetString(PyExc_ValueError, "the protected header must be ASCII");
            goto done;
        }
    }
    Py_ssize_t text_len = parts[3].len - 16;
    if (text_len < 0) {
        PyErr_SetString(PyExc_ValueError, "the sealed data must end with a 16-byte tag");
        goto done;
    }
    Py_ssize_t lengths[4] = {
        encoded_length(parts[1].len), encoded_length(parts[2].len), encoded_length(text_len), encoded_length(16),
    };
    Py_ssize_t total = header_len;
    for (int k = 0; k < 4; k++) {
        if (lengths[k] < 0 || total > PY_SSIZE_T_MAX - 1 - lengths[k]) {
            too_long();
            goto done;
        }
        total += 1 + lengths[k];
    }
    result = PyUnicode_New(total, 127);
    if (result == NULL) {
        goto done;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(result);
    if (header_len) {
        memcpy(out, header, (size_t)header_len);
    }
    out += header_len;
    *out++ = '.';
    out = encode_into(out, (const unsigned char *)parts[1].buf, parts[1].len);
    *out++ = '.';
    out = encode_into(out, (const unsigned char *)parts[2].buf, parts[2].len);
    *out++ = '.';
    out = encode_into(out, (const unsigned char *)parts[3].buf, text_len);
    *out++ = '.';
    encode_into(out, (const unsigned char *)parts[3].buf + text_len, 16);
done:
    while (held > 0) {
        PyBuffer_Release(&parts[--held]);
    }
    return result;
}


/* ---- card_plaintext: the one-pass JWE plaintext (see flex_ext/jwe.py, "The common case") ---- */

typedef struct {
    char *buf;
    Py_ssize_t len;
    Py_ssize_t cap;
    char local[512];
} Writer;

static void
wipe(char *buf, Py_ssize_t len)
{
    volatile char *p = buf;  /* volatile: the compiler may not drop a store before a free */
    while (len-- > 0) {
        *p++ = 0;
    }
}

static int
writer_reserve(Writer *w, Py_ssize_t extra)
{
    if (extra <= w->cap - w->len) {
        return 0;
    }
    if (extra > PY_SSIZE_T_MAX / 2 - w->len) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t cap = (w->len + extra) * 2;
    char *grown = PyMem_Malloc((size_t)cap);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(grown, w->buf, (size_t)w->len);
    wipe(w->buf, w->len);
    if (w->buf != w->local) {
        PyMem_Free(w->buf);
    }
    w->buf = grown;
    w->cap = cap;
    return 0;
}

static int
writer_put(Writer *w, const char *data, Py_ssize_t n)
{
    if (writer_reserve(w, n) < 0) {
        return -1;
    }
    memcpy(w->buf + w->len, data, (size_t)n);
    w->len += n;
    return 0;
}

/* The JSON string of an exact str, as json.encoder.encode_basestring writes it (UTF-8).
   1 written, 0 not representable (a lone surrogate: the general path raises), -1 error. */
static int
write_json_string(Writer *w, PyObject *text)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) {
        return -1;
    }
#endif
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    /* At most 6 bytes per character (\u00XX) plus the quotes. */
    if (n > (PY_SSIZE_T_MAX - 2) / 6 || writer_reserve(w, 6 * n + 2) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        return -1;
    }
    char *out = w->buf + w->len;
    *out++ = '"';
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0x20 && c < 0x80) {
            if (c == '"' || c == '\\') {
                *out++ = '\\';
            }
            *out++ = (char)c;
        }
        else if (c < 0x20) {
            *out++ = '\\';
            switch (c) {
            case '\b': *out++ = 'b'; break;
            case '\f': *out++ = 'f'; break;
            case '\n': *out++ = 'n'; break;
            case '\r': *out++ = 'r'; break;
            case '\t': *out++ = 't'; break;
            default:
                *out++ = 'u';
                *out++ = '0';
                *out++ = '0';
                *out++ = "0123456789abcdef"[c >> 4];
                *out++ = "0123456789abcdef"[c & 15];
            }
        }
        else if (c < 0x800) {
            *out++ = (char)(0xC0 | (c >> 6));
            *out++ = (char)(0x80 | (c & 0x3F));
        }
        else if (c < 0x10000) {
            if (c >= 0xD800 && c <= 0xDFFF) {
                w->len = out - w->buf;  /* what was written is wiped with the rest */
                return 0;
            }
            *out++ = (char)(0xE0 | (c >> 12));
            *out++ = (char)(0x80 | ((c >> 6) & 0x3F));
            *out++ = (char)(0x80 | (c & 0x3F));
        }
        else {
            *out++ = (char)(0xF0 | (c >> 18));
            *out++ = (char)(0x80 | ((c >> 12) & 0x3F));
            *out++ = (char)(0x80 | ((c >> 6) & 0x3F));
            *out++ = (char)(0x80 | (c & 0x3F));
        }
    }
    *out++ = '"';
    w->len = out - w->buf;
    return 1;
}

/* The JSON object of `node` following `shape` ({name: (key JSON bytes, True | False | subshape)}).
   1 written, 0 the general path decides, -1 error. *required counts non-empty required leaves. */
static int
write_node(Writer *w, PyObject *node, PyObject *shape, Py_ssize_t *required)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    char separator = '{';
    while (PyDict_Next(node, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key)) {
            return 0;  /* a str subclass could run Python code in its __eq__ or __hash__ */
        }
        PyObject *entry = PyDict_GetItemWithError(shape, key);
        if (entry == NULL) {
            return PyErr_Occurred() ? -1 : 0;
        }
        if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2
            || !PyBytes_CheckExact(PyTuple_GET_ITEM(entry, 0))) {
            PyErr_SetString(PyExc_TypeError, "card_plaintext: malformed shape");
            return -1;
        }
        PyObject *key_json = PyTuple_GET_ITEM(entry, 0);
        PyObject *sub = PyTuple_GET_ITEM(entry, 1);
        int result;
        if (PyUnicode_CheckExact(value)) {
            if (sub == Py_True) {
                if (PyUnicode_GET_LENGTH(value) == 0) {
                    return 0;
                }
                (*required)++;
            }
            else if (sub != Py_False) {
                return 0;
            }
            if (writer_put(w, &separator, 1) < 0
                || writer_put(w, PyBytes_AS_STRING(key_json), PyBytes_GET_SIZE(key_json)) < 0) {
                return -1;
            }
            result = write_json_string(w, value);
        }
        else if (PyDict_CheckExact(value) && PyDict_CheckExact(sub)) {
            if (writer_put(w, &separator, 1) < 0
                || writer_put(w, PyBytes_AS_STRING(key_json), PyBytes_GET_SIZE(key_json)) < 0) {
                return -1;
            }
            result = write_node(w, value, sub, required);
        }
        else {
            return 0;
        }
        if (result <= 0) {
            return result;
        }
        separator = ',';
    }
    if (separator == '{') {
        return 0;  /* the general path drops an empty object */
    }
    return writer_put(w, "}", 1) < 0 ? -1 : 1;
}

static PyObject *
speedups_card_plaintext(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "card_plaintext() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *data = args[0], *shape = args[1], *tail = args[3];
    Py_ssize_t expected = PyLong_AsSsize_t(args[2]);
    if (expected == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (!PyDict_CheckExact(shape) || !PyBytes_CheckExact(tail)) {
        PyErr_SetString(PyExc_TypeError, "card_plaintext(data, shape: dict, required: int, tail: bytes)");
        return NULL;
    }
    if (!PyDict_CheckExact(data)) {
        Py_RETURN_NONE;
    }
    Writer w;
    w.buf = w.local;
    w.len = 0;
    w.cap = (Py_ssize_t)sizeof w.local;
    Py_ssize_t required = 0;
    PyObject *result = NULL;
    int status = writer_put(&w, "{\"data\":", 8);
    if (status == 0) {
        status = write_node(&w, data, shape, &required);
    }
    if (status > 0 && required == expected) {
        Py_ssize_t tail_len = PyBytes_GET_SIZE(tail);
        if (tail_len > PY_SSIZE_T_MAX - w.len) {
            PyErr_NoMemory();
        }
        else {
            result = PyBytes_FromStringAndSize(NULL, w.len + tail_len);
            if (result != NULL) {
                char *out = PyBytes_AS_STRING(result);
                memcpy(out, w.buf, (size_t)w.len);
                memcpy(out + w.len, PyBytes_AS_STRING(tail), (size_t)tail_len);
            }
        }
    }
    else if (status >= 0) {
        result = Py_None;
        Py_INCREF(result);
    }
    wipe(w.buf, w.len);
    if (w.buf != w.local) {
        PyMem_Free(w.buf);
    }
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"encode", (PyCFunction)speedups_encode, METH_O,
     "encode(data) -> str: unpadded base64url of a bytes-like object."},
    {"decode", (PyCFunction)speedups_decode, METH_O,
     "decode(text) -> bytes | None: strict unpadded base64url (bytes or ASCII str); None for "
     "anything else, padding, a foreign character, an impossible length or non-zero trailing bits."},
    {"jwe_compact", (PyCFunction)(void (*)(void))speedups_jwe_compact, METH_FASTCALL,
     "jwe_compact(header, encrypted_key, iv, sealed) -> str: the compact JWE; header is "
     "base64url already, sealed is the AES-GCM ciphertext followed by its 16-byte tag."},
    {"card_plaintext", (PyCFunction)(void (*)(void))speedups_card_plaintext, METH_FASTCALL,
     "card_plaintext(data, shape, required, tail) -> bytes | None: b'{\"data\":' + the JSON of data + "
     "tail, when data is a nested dict of strs that shape declares holding exactly `required` "
     "non-empty required leaves; None when the general path must decide."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "flex_ext._speedups", "base64url for the JOSE compact forms (optional)", -1,
    speedups_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    memset(VALUE, 0xFF, sizeof VALUE);
    for (int i = 0; i < 64; i++) {
        VALUE[(unsigned char)ALPHABET[i]] = (unsigned char)i;
    }
    return PyModule_Create(&speedups_module);
}
