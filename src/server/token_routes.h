/* token_routes.h: the token protocol's routes (token_routes.c): POST {base}/login, GET {base}/me,
 * POST {base}/logout, POST {base}/decrypt, and a Bearer token as the session of the other
 * routes. */
#ifndef WXS_TOKEN_ROUTES_H
#define WXS_TOKEN_ROUTES_H

#include "routes.h"

#include <jansson.h>

/** token_bearer_parse (token_parse.h) of req's Authorization header. */
int token_bearer(http_req *req, const char **token, size_t *len);

/** Answer a JSON value (consumed; NULL: out of memory, answered 500) with extra header lines
 *  (NULL: none; http_respond_with_headers). */
void token_respond_json(http_req *req, int status, const char *extra_headers, json_t *v);

/** Answer a token operation's failure with its HTTP status and error body. */
void token_respond_error(http_req *req, const wxs_token_result *res);

void token_route_login(app *a, http_req *req);
void token_route_me(app *a, http_req *req, const char *token, size_t len);
void token_route_logout(app *a, http_req *req, const char *token, size_t len);
void token_route_decrypt(app *a, http_req *req, const char *token, size_t len);

/** Look the token up, then run route as its user (the wxs_auth_result the code path gives), or
 *  answer 401 / 503. */
void token_with_session(app *a, http_req *req, const char *token, size_t len, route_fn route);

#endif /* WXS_TOKEN_ROUTES_H */
