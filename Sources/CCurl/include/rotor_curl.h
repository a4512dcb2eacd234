#ifndef ROTOR_CURL_H
#define ROTOR_CURL_H

#include <stddef.h>

/// One HTTP exchange through the system's libcurl, which is loaded with dlopen on first
/// use: a rotor that never sends a request never loads libcurl and its ~30 libraries
/// (about 7 ms of every start), and building rotor needs no curl headers.
typedef struct rotor_http_exchange {
    /* What to send. */
    const char *method;
    const char *url;
    const char *const *headers;          /* "Name: value" lines */
    size_t header_count;
    int has_body;                        /* 0: no body (GET, DELETE…) */
    const unsigned char *body;           /* may be NULL when body_length is 0 */
    size_t body_length;
    long timeout_ms;                     /* deadline for the whole exchange */
    size_t max_response_bytes;           /* a longer body ends the exchange with an error */

    /* What came back; the buffers belong to the exchange until rotor_http_free. */
    long status;
    unsigned char *response_body;
    size_t response_body_length;
    char *response_headers;              /* header lines of the final response, CRLF-separated */
    size_t response_headers_length;
    int timed_out;
    /* 1 when the request certainly never reached the server (no connection was made). */
    int never_sent;
    /* 1 when the server was answering (the body outgrew max_response_bytes): it had finished. */
    int answered;
    char error[256];
} rotor_http_exchange;

/// Performs the exchange, blocking the calling thread. Returns 0 when a response arrived
/// (any status), -1 otherwise with `error` (and `timed_out`) set.
int rotor_http_perform(rotor_http_exchange *exchange);

/// Frees the response buffers.
void rotor_http_free(rotor_http_exchange *exchange);

#endif
