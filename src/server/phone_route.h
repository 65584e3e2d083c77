/* phone_route.h: POST {routeBasePath}/phone (phone_route.c): a user's phone number from the code
 * of the getPhoneNumber button, for the token session's user. */
#ifndef WXS_PHONE_ROUTE_H
#define WXS_PHONE_ROUTE_H

#include "routes.h"

/** Serve POST /phone {"code"} for the session of token (the Bearer value, borrowed): 200 with
 *  WeChat's phone_info object, or an error (docs/protocol.md "Phone numbers"). */
void phone_route(app *a, http_req *req, const char *token, size_t token_len);

#endif /* WXS_PHONE_ROUTE_H */
