/* access.h: the answers' count by route (the metrics), the access line and the login audit
 * line (access.c). */
#ifndef WXS_ACCESS_H
#define WXS_ACCESS_H

#include "routes.h"

#include <netinet/in.h>

/** The client's address as text into out: X-Forwarded-For's last entry when a->trust_forwarded
 *  and it is an address, else the peer's; "-" when neither is known. */
void access_client(const app *a, http_req *req, char out[INET6_ADDRSTRLEN]);

/** An audit line: event (e.g. "login"), result, the first 16 hex digits of SHA-256(openid) when
 *  openid is not NULL, the client, the request id. */
void access_audit(const app *a, http_req *req, const char *event, const char *result,
                  const char *openid);

/** The audit line of a login's answer (auth->login set): its result, the first 16 hex digits of
 *  SHA-256(openId) when one is known, the client, the request id. */
void access_audit_login(const app *a, http_req *req, const wxs_auth_result *auth);

#endif /* WXS_ACCESS_H */
