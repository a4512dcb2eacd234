#ifndef ROTOR_PQ_H
#define ROTOR_PQ_H

/// The few libpq calls rotor's PostgreSQL state store makes, through the system's libpq
/// loaded with dlopen on first use: a rotor whose state is SQLite never loads libpq and
/// the ~20 libraries it pulls in (Kerberos, LDAP, GnuTLS…; about 4 ms of every start),
/// and building rotor needs no libpq headers. Connections and results are libpq's own
/// PGconn and PGresult, passed around as opaque pointers.

/// NULL once libpq is loaded; else why it could not be (loads it on the first call).
const char *rotor_pq_load_error(void);

/// PQconnectdb. NULL when libpq is missing or out of memory.
void *rotor_pq_connect(const char *conninfo);
/// PQconnectdbParams with expand_dbname: `keywords` and `values` end with NULL; a URI in
/// the first "dbname" is expanded, and the keywords after it override what it says (a
/// role's login with the admin URL's host, port and TLS settings). NULL as for connect.
void *rotor_pq_connect_params(const char *const *keywords, const char *const *values);
/// 1 when PQstatus is CONNECTION_OK.
int rotor_pq_connection_ok(void *connection);
const char *rotor_pq_error_message(void *connection);
void rotor_pq_finish(void *connection);

/// PQexecParams with text parameters and text results.
void *rotor_pq_exec(void *connection, const char *sql, int parameter_count, const char *const *values);
/// 1 when the result's status is PGRES_COMMAND_OK or PGRES_TUPLES_OK.
int rotor_pq_result_ok(void *result);
const char *rotor_pq_result_error_message(void *result);
/// The result's SQLSTATE, or NULL.
const char *rotor_pq_result_sqlstate(void *result);
int rotor_pq_rows(void *result);
int rotor_pq_columns(void *result);
int rotor_pq_is_null(void *result, int row, int column);
const char *rotor_pq_value(void *result, int row, int column);
void rotor_pq_clear(void *result);

/// 1 when this build checked its copies of libpq's constants against libpq-fe.h.
int rotor_pq_checked_against_headers(void);
/// PQbackendPID: the server process serving this connection.
int rotor_pq_backend_pid(void *connection);
/// PQsslAttribute ("protocol", "cipher"…), or NULL when the connection is not over TLS.
const char *rotor_pq_ssl_attribute(void *connection, const char *name);
/// The server certificate's subject and issuer (one line each) and SHA-256 digest: 1 when
/// the connection is over TLS and OpenSSL (as loaded by libpq) gave them, else 0.
int rotor_pq_peer_certificate(void *connection, char *subject, int subject_size, char *issuer, int issuer_size,
                              unsigned char *sha256, unsigned int *sha256_size);

#endif
