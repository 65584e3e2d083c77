/* gateway.h: the gateway endpoint (gateway.c, docs/gateway.md): nginx's auth_request asks it who
 * sends a request and passes the answer on to a backend in any language. */
#ifndef WXS_GATEWAY_H
#define WXS_GATEWAY_H

#include "routes.h"

/** Answer req, a request for gateway.authPath (any method; its body is ignored), from its
 *  headers only: "Authorization: Bearer <token>" (looked up), else X-WX-Code with, for a login,
 *  X-WX-RawData and X-WX-Signature (the weapp-session protocol). 200 with X-WX-OpenId,
 *  X-WX-UnionId (only when the user has one; never for X-WX-Code), X-WX-AppId and
 *  Cache-Control: no-store; 401 (no credential, or one the session layer does not accept); 503
 *  (the store is down, or the server is shutting down); 429 when a login is over the login
 *  limit; 500 out of memory. Every answer has an empty body. a->ctx must not be NULL. */
void gateway_handle(app *a, http_req *req);

#endif /* WXS_GATEWAY_H */
