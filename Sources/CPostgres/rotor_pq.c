#include "rotor_pq.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

/* The parts of libpq's stable ABI rotor uses (values from libpq-fe.h and postgres_ext.h).
 * Checked twice: against the headers when they are on the build machine (libpq-dev; the
 * test script installs it), and against the loaded library itself by load_pq, which asks
 * libpq to name its result codes. */
enum { ROTOR_CONNECTION_OK = 0, ROTOR_CONNECTION_BAD = 1, ROTOR_PGRES_COMMAND_OK = 1, ROTOR_PGRES_TUPLES_OK = 2, ROTOR_PG_DIAG_SQLSTATE = 'C' };

#if __has_include(<postgresql/libpq-fe.h>)
#include <postgresql/libpq-fe.h>
_Static_assert(CONNECTION_OK == ROTOR_CONNECTION_OK, "libpq's CONNECTION_OK changed");
_Static_assert(CONNECTION_BAD == ROTOR_CONNECTION_BAD, "libpq's CONNECTION_BAD changed");
_Static_assert(PGRES_COMMAND_OK == ROTOR_PGRES_COMMAND_OK, "libpq's PGRES_COMMAND_OK changed");
_Static_assert(PGRES_TUPLES_OK == ROTOR_PGRES_TUPLES_OK, "libpq's PGRES_TUPLES_OK changed");
_Static_assert(PG_DIAG_SQLSTATE == ROTOR_PG_DIAG_SQLSTATE, "libpq's PG_DIAG_SQLSTATE changed");
int rotor_pq_checked_against_headers(void) { return 1; }
#else
typedef void PGconn;
typedef void PGresult;
typedef unsigned int Oid;
int rotor_pq_checked_against_headers(void) { return 0; }
#endif

static struct {
    PGconn *(*connectdb)(const char *);
    PGconn *(*connectdb_params)(const char *const *, const char *const *, int);
    int (*status)(const PGconn *);
    char *(*error_message)(const PGconn *);
    void (*finish)(PGconn *);
    PGresult *(*exec_params)(PGconn *, const char *, int, const Oid *, const char *const *, const int *, const int *, int);
    int (*result_status)(const PGresult *);
    char *(*result_error_message)(const PGresult *);
    char *(*result_error_field)(const PGresult *, int);
    int (*ntuples)(const PGresult *);
    int (*nfields)(const PGresult *);
    int (*getisnull)(const PGresult *, int, int);
    char *(*getvalue)(const PGresult *, int, int);
    void (*clear)(PGresult *);
    char *(*res_status)(int);
    int (*ssl_in_use)(PGconn *);
    const char *(*ssl_attribute)(PGconn *, const char *);
    void *(*ssl_struct)(PGconn *, const char *);
    int (*backend_pid)(const PGconn *);
    const char *load_error;
} pq;

static pthread_once_t pq_once = PTHREAD_ONCE_INIT;

static void load_pq(void) {
    static const char *names[] = {"libpq.so.5", "libpq.so", "libpq.5.dylib", "libpq.dylib"};
    void *library = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && !library; i++) library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!library) { pq.load_error = "libpq is not installed (Debian: apt-get install libpq5)"; return; }
#define LOAD(field, symbol) if (!(*(void **)&pq.field = dlsym(library, symbol))) { pq.load_error = "libpq lacks " symbol; return; }
    LOAD(connectdb, "PQconnectdb")
    LOAD(connectdb_params, "PQconnectdbParams")
    LOAD(status, "PQstatus")
    LOAD(error_message, "PQerrorMessage")
    LOAD(finish, "PQfinish")
    LOAD(exec_params, "PQexecParams")
    LOAD(result_status, "PQresultStatus")
    LOAD(result_error_message, "PQresultErrorMessage")
    LOAD(result_error_field, "PQresultErrorField")
    LOAD(ntuples, "PQntuples")
    LOAD(nfields, "PQnfields")
    LOAD(getisnull, "PQgetisnull")
    LOAD(getvalue, "PQgetvalue")
    LOAD(clear, "PQclear")
    LOAD(res_status, "PQresStatus")
    LOAD(ssl_in_use, "PQsslInUse")
    LOAD(ssl_attribute, "PQsslAttribute")
    LOAD(ssl_struct, "PQsslStruct")
    LOAD(backend_pid, "PQbackendPID")
#undef LOAD
    /* The library names its own codes: a libpq whose numbering differs from the one rotor
     * was built for is refused here, not misread later. */
    if (strcmp(pq.res_status(ROTOR_PGRES_COMMAND_OK), "PGRES_COMMAND_OK") != 0
        || strcmp(pq.res_status(ROTOR_PGRES_TUPLES_OK), "PGRES_TUPLES_OK") != 0
        || pq.status(NULL) != ROTOR_CONNECTION_BAD) {
        pq.load_error = "this libpq numbers its result codes differently from the libpq rotor was built for";
    }
}

const char *rotor_pq_load_error(void) {
    pthread_once(&pq_once, load_pq);
    return pq.load_error;
}

void *rotor_pq_connect(const char *conninfo) {
    return rotor_pq_load_error() ? NULL : pq.connectdb(conninfo);
}

void *rotor_pq_connect_params(const char *const *keywords, const char *const *values) {
    return rotor_pq_load_error() ? NULL : pq.connectdb_params(keywords, values, 1);
}

/* Every function below takes a connection or result that rotor_pq_connect made, so libpq is loaded. */
int rotor_pq_connection_ok(void *connection) { return pq.status(connection) == ROTOR_CONNECTION_OK; }
const char *rotor_pq_error_message(void *connection) { return pq.error_message(connection); }
void rotor_pq_finish(void *connection) { pq.finish(connection); }

void *rotor_pq_exec(void *connection, const char *sql, int parameter_count, const char *const *values) {
    return pq.exec_params(connection, sql, parameter_count, NULL, values, NULL, NULL, 0);
}

int rotor_pq_result_ok(void *result) {
    int status = pq.result_status(result);
    return status == ROTOR_PGRES_COMMAND_OK || status == ROTOR_PGRES_TUPLES_OK;
}
const char *rotor_pq_result_error_message(void *result) { return pq.result_error_message(result); }
const char *rotor_pq_result_sqlstate(void *result) { return pq.result_error_field(result, ROTOR_PG_DIAG_SQLSTATE); }
int rotor_pq_rows(void *result) { return pq.ntuples(result); }
int rotor_pq_columns(void *result) { return pq.nfields(result); }
int rotor_pq_is_null(void *result, int row, int column) { return pq.getisnull(result, row, column); }
const char *rotor_pq_value(void *result, int row, int column) { return pq.getvalue(result, row, column); }
void rotor_pq_clear(void *result) { pq.clear(result); }

int rotor_pq_backend_pid(void *connection) { return pq.backend_pid(connection); }

const char *rotor_pq_ssl_attribute(void *connection, const char *name) {
    return pq.ssl_in_use(connection) ? pq.ssl_attribute(connection, name) : NULL;
}

/* The server's certificate, through the OpenSSL that libpq itself loaded (found with
 * RTLD_NOLOAD: rotor loads no TLS library of its own). */
int rotor_pq_peer_certificate(void *connection, char *subject, int subject_size, char *issuer, int issuer_size,
                              unsigned char *sha256, unsigned int *sha256_size) {
    if (!pq.ssl_in_use(connection)) return 0;
    void *ssl = pq.ssl_struct(connection, "OpenSSL");
    void *libssl = dlopen("libssl.so.3", RTLD_LAZY | RTLD_NOLOAD);
    if (!libssl) libssl = dlopen("libssl.so.1.1", RTLD_LAZY | RTLD_NOLOAD);
    void *libcrypto = dlopen("libcrypto.so.3", RTLD_LAZY | RTLD_NOLOAD);
    if (!libcrypto) libcrypto = dlopen("libcrypto.so.1.1", RTLD_LAZY | RTLD_NOLOAD);
    if (!ssl || !libssl || !libcrypto) return 0;
    void *(*peer)(const void *) = NULL;
    *(void **)&peer = dlsym(libssl, "SSL_get1_peer_certificate");
    if (!peer) *(void **)&peer = dlsym(libssl, "SSL_get_peer_certificate");
    void *(*subject_name)(const void *) = NULL, *(*issuer_name)(const void *) = NULL, *(*sha256_md)(void) = NULL;
    char *(*oneline)(const void *, char *, int) = NULL;
    int (*digest)(const void *, const void *, unsigned char *, unsigned int *) = NULL;
    void (*x509_free)(void *) = NULL;
    *(void **)&subject_name = dlsym(libcrypto, "X509_get_subject_name");
    *(void **)&issuer_name = dlsym(libcrypto, "X509_get_issuer_name");
    *(void **)&sha256_md = dlsym(libcrypto, "EVP_sha256");
    *(void **)&oneline = dlsym(libcrypto, "X509_NAME_oneline");
    *(void **)&digest = dlsym(libcrypto, "X509_digest");
    *(void **)&x509_free = dlsym(libcrypto, "X509_free");
    if (!peer || !subject_name || !issuer_name || !sha256_md || !oneline || !digest || !x509_free) return 0;
    void *certificate = peer(ssl);
    if (!certificate) return 0;
    oneline(subject_name(certificate), subject, subject_size);
    oneline(issuer_name(certificate), issuer, issuer_size);
    int ok = digest(certificate, sha256_md(), sha256, sha256_size);
    x509_free(certificate);
    return ok == 1;
}
