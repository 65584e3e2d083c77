/* redis_reply.h: for unit tests of Redis reply parsers: the reply a server's RESP bytes stand
 * for, read with hiredis's own reader (no sockets). Include after <cmocka.h>. */
#ifndef WXS_TEST_REDIS_REPLY_H
#define WXS_TEST_REDIS_REPLY_H

#include <hiredis/hiredis.h>
#include <string.h>

/* The reply that the RESP bytes resp stand for (one whole reply); the caller frees it with
 * freeReplyObject. Fails the test when resp does not hold one. */
static inline redisReply *reply_of(const char *resp)
{
    redisReader *rd = redisReaderCreate();
    void *reply = NULL;
    assert_non_null(rd);
    assert_int_equal(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(rd);
    return reply;
}

#endif /* WXS_TEST_REDIS_REPLY_H */
