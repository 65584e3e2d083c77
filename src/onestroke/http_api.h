/* http_api.h: One Stroke's HTTP routes, compatible with the original demo, for wxsessiond to
 * mount below routeBasePath behind the session layer:
 *   GET  {base}/session/paints/list[?limit=N&cursor=C]   onestroke_route_list
 *   POST {base}/session/paints/save    {id, actions}      onestroke_route_save
 *   POST {base}/session/paints/delete  {id}               onestroke_route_delete
 * Each is called with the session layer's answer for the request (anonymous or a user; never a
 * rejection) and answers req itself, now or when the store answers. */
#ifndef ONESTROKE_HTTP_API_H
#define ONESTROKE_HTTP_API_H

#include "http.h"
#include "onestroke.h"

/** The routes. auth is borrowed for the call only (its openid is what scopes the request). */
void onestroke_route_list(onestroke *os, http_req *req, const wxs_auth_result *auth);
void onestroke_route_save(onestroke *os, http_req *req, const wxs_auth_result *auth);
void onestroke_route_delete(onestroke *os, http_req *req, const wxs_auth_result *auth);

#endif /* ONESTROKE_HTTP_API_H */
