/* reasons.h: the reasons of One Stroke's failure envelope
 * {"code":-1,"msg":"fail","error":{"reason":...,"message":...}}, in one table; for a store that is
 * down, shutting down or out of memory the app answers with the session layer's WXS_REASON_*
 * (include/wxsession.h). */
#ifndef ONESTROKE_REASONS_H
#define ONESTROKE_REASONS_H

#include <wxsession.h>

#define OS_REASON_NO_SESSION "ERR_NO_SESSION"           /* no X-WX-Code: log in first */
#define OS_REASON_NOT_FOUND "ERR_NOT_FOUND"             /* delete: the user has no such drawing */
#define OS_REASON_TOO_MANY_PAINTS "ERR_TOO_MANY_PAINTS" /* paints.maxPerUser */
#define OS_REASON_BAD_LIMIT "ERR_BAD_LIMIT"             /* 1..paints.maxPageSize */
#define OS_REASON_BAD_CURSOR "ERR_BAD_CURSOR"           /* a cursor no list gave */
#define OS_REASON_MISSING_ID "ERR_MISSING_ID"           /* the body has no id */
#define OS_REASON_MISSING_ACTIONS "ERR_MISSING_ACTIONS" /* save: the body has no actions */
#define OS_REASON_BAD_ID "ERR_BAD_ID"                   /* ids: 1-64 of [A-Za-z0-9_-] */
#define OS_REASON_ACTIONS_TOO_LARGE "ERR_ACTIONS_TOO_LARGE" /* paints.maxActionsBytes */
#define OS_REASON_BAD_ACTIONS "ERR_BAD_ACTIONS"             /* actions must be JSON text */
#define OS_REASON_BAD_BODY "ERR_BAD_BODY"                   /* neither JSON nor a form */

#endif /* ONESTROKE_REASONS_H */
