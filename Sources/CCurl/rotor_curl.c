#include "rotor_curl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The few parts of libcurl's stable ABI rotor uses (values from curl/curl.h). */
typedef void CURL;
struct curl_slist;
enum {
    OPT_WRITEDATA = 10001, OPT_URL = 10002, OPT_ERRORBUFFER = 10010, OPT_WRITEFUNCTION = 20011,
    OPT_POSTFIELDS = 10015, OPT_HTTPHEADER = 10023, OPT_HEADERDATA = 10029, OPT_CUSTOMREQUEST = 10036,
    OPT_NOBODY = 44, OPT_NOSIGNAL = 99, OPT_HEADERFUNCTION = 20079, OPT_TIMEOUT_MS = 155,
    OPT_CONNECTTIMEOUT_MS = 156, OPT_PROTOCOLS = 181, OPT_POSTFIELDSIZE_LARGE = 30120, OPT_NOPROXY = 10177,
    INFO_RESPONSE_CODE = 0x200000 + 2,
    CODE_OK = 0, CODE_URL_MALFORMAT = 3, CODE_COULDNT_RESOLVE_PROXY = 5,
    CODE_COULDNT_RESOLVE_HOST = 6, CODE_COULDNT_CONNECT = 7, CODE_OPERATION_TIMEDOUT = 28, GLOBAL_DEFAULT = 3, PROTO_HTTP_HTTPS = 1 | 2,
};
typedef size_t (*write_callback)(char *, size_t, size_t, void *);

static struct {
    int (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    int (*easy_setopt)(CURL *, int, ...);
    int (*easy_perform)(CURL *);
    int (*easy_getinfo)(CURL *, int, ...);
    const char *(*easy_strerror)(int);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    const char *load_error;
} curl;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void load_curl(void) {
    static const char *names[] = {"libcurl.so.4", "libcurl.so", "libcurl.4.dylib", "libcurl.dylib"};
    void *library = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && !library; i++) library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!library) { curl.load_error = "libcurl is not installed (Debian: apt-get install libcurl4)"; return; }
#define LOAD(field, symbol) if (!(*(void **)&curl.field = dlsym(library, symbol))) { curl.load_error = "libcurl lacks " symbol; return; }
    LOAD(global_init, "curl_global_init")
    LOAD(easy_init, "curl_easy_init")
    LOAD(easy_cleanup, "curl_easy_cleanup")
    LOAD(easy_setopt, "curl_easy_setopt")
    LOAD(easy_perform, "curl_easy_perform")
    LOAD(easy_getinfo, "curl_easy_getinfo")
    LOAD(easy_strerror, "curl_easy_strerror")
    LOAD(slist_append, "curl_slist_append")
    LOAD(slist_free_all, "curl_slist_free_all")
#undef LOAD
    if (curl.global_init(GLOBAL_DEFAULT) != CODE_OK) curl.load_error = "libcurl failed to initialise";
}

typedef struct buffer { char *bytes; size_t length, capacity, limit; int overflowed; } buffer;

static int buffer_append(buffer *b, const char *bytes, size_t length) {
    if (b->length + length > b->limit) { b->overflowed = 1; return 0; }
    if (b->length + length + 1 > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 1024;
        while (capacity < b->length + length + 1) capacity *= 2;
        char *grown = realloc(b->bytes, capacity);
        if (!grown) return 0;
        b->bytes = grown;
        b->capacity = capacity;
    }
    memcpy(b->bytes + b->length, bytes, length);
    b->length += length;
    b->bytes[b->length] = 0;
    return 1;
}

static size_t on_body(char *bytes, size_t size, size_t count, void *context) {
    return buffer_append(context, bytes, size * count) ? size * count : 0;
}

/* Keeps only the last response's header block (after 100-continue or a redirect). */
static size_t on_header(char *bytes, size_t size, size_t count, void *context) {
    buffer *headers = context;
    if (size * count >= 5 && memcmp(bytes, "HTTP/", 5) == 0) headers->length = 0;
    return buffer_append(headers, bytes, size * count) ? size * count : 0;
}

int rotor_http_perform(rotor_http_exchange *exchange) {
    memset(exchange->error, 0, sizeof exchange->error);
    exchange->status = 0;
    exchange->timed_out = 0;
    exchange->response_body = NULL;
    exchange->response_body_length = 0;
    exchange->response_headers = NULL;
    exchange->response_headers_length = 0;

    pthread_once(&curl_once, load_curl);
    if (curl.load_error) { snprintf(exchange->error, sizeof exchange->error, "%s", curl.load_error); return -1; }
    CURL *handle = curl.easy_init();
    if (!handle) { snprintf(exchange->error, sizeof exchange->error, "libcurl could not make a handle"); return -1; }

    struct curl_slist *headers = curl.slist_append(NULL, "Expect:");  /* no 100-continue round trip */
    for (size_t i = 0; i < exchange->header_count; i++) headers = curl.slist_append(headers, exchange->headers[i]);
    buffer body = {.limit = exchange->max_response_bytes}, header_lines = {.limit = 64 * 1024};
    char error[256] = {0};

    curl.easy_setopt(handle, OPT_URL, exchange->url);
    /* Plain http goes only to loopback (the configuration's rule) and never through a proxy
       named in the environment (http_proxy), which would see the token in clear. */
    if (strncasecmp(exchange->url, "http://", 7) == 0) curl.easy_setopt(handle, OPT_NOPROXY, "*");
    curl.easy_setopt(handle, OPT_PROTOCOLS, (long)PROTO_HTTP_HTTPS);
    curl.easy_setopt(handle, OPT_NOSIGNAL, 1L);
    curl.easy_setopt(handle, OPT_TIMEOUT_MS, exchange->timeout_ms);
    curl.easy_setopt(handle, OPT_CONNECTTIMEOUT_MS, exchange->timeout_ms);
    curl.easy_setopt(handle, OPT_ERRORBUFFER, error);
    curl.easy_setopt(handle, OPT_HTTPHEADER, headers);
    curl.easy_setopt(handle, OPT_WRITEFUNCTION, (write_callback)on_body);
    curl.easy_setopt(handle, OPT_WRITEDATA, &body);
    curl.easy_setopt(handle, OPT_HEADERFUNCTION, (write_callback)on_header);
    curl.easy_setopt(handle, OPT_HEADERDATA, &header_lines);
    if (strcmp(exchange->method, "HEAD") == 0) curl.easy_setopt(handle, OPT_NOBODY, 1L);
    else curl.easy_setopt(handle, OPT_CUSTOMREQUEST, exchange->method);
    if (exchange->has_body) {
        curl.easy_setopt(handle, OPT_POSTFIELDSIZE_LARGE, (long long)exchange->body_length);
        curl.easy_setopt(handle, OPT_POSTFIELDS, exchange->body_length ? (const char *)exchange->body : "");
    }

    int code = curl.easy_perform(handle);
    if (code == CODE_OK) {
        curl.easy_getinfo(handle, INFO_RESPONSE_CODE, &exchange->status);
        exchange->response_body = (unsigned char *)body.bytes;
        exchange->response_body_length = body.length;
        exchange->response_headers = header_lines.bytes;
        exchange->response_headers_length = header_lines.length;
    } else {
        exchange->timed_out = code == CODE_OPERATION_TIMEDOUT;
        /* Not CODE_UNSUPPORTED_PROTOCOL: curl also returns it for a garbled answer (an
           HTTP/0.9 status line) that came after the server acted. */
        exchange->never_sent = code == CODE_URL_MALFORMAT || code == CODE_COULDNT_RESOLVE_PROXY
            || code == CODE_COULDNT_RESOLVE_HOST || code == CODE_COULDNT_CONNECT;
        exchange->answered = body.overflowed;
        if (body.overflowed) snprintf(exchange->error, sizeof exchange->error, "response body larger than %zu bytes", body.limit);
        else snprintf(exchange->error, sizeof exchange->error, "%s", error[0] ? error : curl.easy_strerror(code));
        free(body.bytes);
        free(header_lines.bytes);
    }
    curl.slist_free_all(headers);
    curl.easy_cleanup(handle);
    return code == CODE_OK ? 0 : -1;
}

void rotor_http_free(rotor_http_exchange *exchange) {
    free(exchange->response_body);
    free(exchange->response_headers);
    exchange->response_body = NULL;
    exchange->response_headers = NULL;
}
