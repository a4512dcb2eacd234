#include "rotor_pq.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

/* The parts of libpq's stable ABI rotor uses (values from libpq-fe.h and postgres_ext.h). */
enum { CONNECTION_OK = 0, PGRES_COMMAND_OK = 1, PGRES_TUPLES_OK = 2, PG_DIAG_SQLSTATE = 'C' };
typedef void PGconn;
typedef void PGresult;
typedef unsigned int Oid;

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
#undef LOAD
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
int rotor_pq_connection_ok(void *connection) { return pq.status(connection) == CONNECTION_OK; }
const char *rotor_pq_error_message(void *connection) { return pq.error_message(connection); }
void rotor_pq_finish(void *connection) { pq.finish(connection); }

void *rotor_pq_exec(void *connection, const char *sql, int parameter_count, const char *const *values) {
    return pq.exec_params(connection, sql, parameter_count, NULL, values, NULL, NULL, 0);
}

int rotor_pq_result_ok(void *result) {
    int status = pq.result_status(result);
    return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}
const char *rotor_pq_result_error_message(void *result) { return pq.result_error_message(result); }
const char *rotor_pq_result_sqlstate(void *result) { return pq.result_error_field(result, PG_DIAG_SQLSTATE); }
int rotor_pq_rows(void *result) { return pq.ntuples(result); }
int rotor_pq_columns(void *result) { return pq.nfields(result); }
int rotor_pq_is_null(void *result, int row, int column) { return pq.getisnull(result, row, column); }
const char *rotor_pq_value(void *result, int row, int column) { return pq.getvalue(result, row, column); }
void rotor_pq_clear(void *result) { pq.clear(result); }
