/* simulator_phone.c: the simulator's phone codes (contract in simulator_impl.h), what the
 * getPhoneNumber button hands a mini program: single-use, valid 5 minutes, bound to the user's
 * openid, kept in issue order in a bounded table for getuserphonenumber to look up. No HTTP;
 * the sim's lock held throughout. */
#include "simulator_impl.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define PHONE_LIFE_MS (5 * 60 * 1000ULL) /* a phone code expires 5 minutes after it is issued */
#define MAX_PHONES 100000                /* live phone codes; issuing fails past this */

struct sim_phone {
    hnode node;
    char text[CODE_LEN + 1];
    sim_phone_info info;
    uint64_t issued_ms; /* monotonic */
    int used;
    sim_phone *next; /* issue order */
};

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* Drops codes issued more than PHONE_LIFE_MS ago (oldest first). */
static void purge(sim *s, uint64_t now)
{
    while (s->phone_head != NULL && now - s->phone_head->issued_ms > PHONE_LIFE_MS) {
        sim_phone *p = s->phone_head;
        s->phone_head = p->next;
        if (s->phone_head == NULL)
            s->phone_tail = NULL;
        sim__table_remove(&s->phones, &p->node);
        free(p);
    }
}

int sim__phone_issue(sim *s, const sim_phone_info *info, char code_out[CODE_LEN + 1])
{
    uint64_t now = now_ms();
    purge(s, now);
    sim_phone *p = s->phones.count < MAX_PHONES ? calloc(1, sizeof *p) : NULL;
    if (p == NULL)
        return -1;
    do {
        if (sim__random_text(p->text, CODE_LEN) < 0) {
            free(p);
            return -1;
        }
        p->node.hash = sim__hash(s->seed, p->text, CODE_LEN);
    } while (sim__table_find(&s->phones, p->node.hash, p->text, CODE_LEN) != NULL);
    p->node.key = p->text;
    p->node.keylen = CODE_LEN;
    p->info = *info;
    p->issued_ms = now;
    if (sim__table_insert(&s->phones, &p->node) < 0) {
        free(p);
        return -1;
    }
    if (s->phone_tail != NULL)
        s->phone_tail->next = p;
    else
        s->phone_head = p;
    s->phone_tail = p;
    memcpy(code_out, p->text, CODE_LEN + 1);
    return 0;
}

/* The live entry of code, or NULL. */
static sim_phone *lookup(sim *s, const char *code)
{
    size_t len = code != NULL ? strlen(code) : 0;
    sim_phone *p = NULL;
    if (len == CODE_LEN)
        p = (sim_phone *)sim__table_find(&s->phones, sim__hash(s->seed, code, len), code, len);
    return p != NULL && now_ms() - p->issued_ms <= PHONE_LIFE_MS ? p : NULL;
}

int sim__phone_find(sim *s, const char *code, const char *openid, sim_phone_info *out)
{
    sim_phone *p = lookup(s, code);
    if (p == NULL || p->used || (openid != NULL && strcmp(openid, p->info.openid) != 0))
        return 40029;
    *out = p->info;
    return 0;
}

void sim__phone_use(sim *s, const char *code)
{
    sim_phone *p = lookup(s, code);
    if (p != NULL)
        p->used = 1;
}

void sim__phones_forget(sim *s)
{
    sim__table_clear(&s->phones);
    s->phone_head = s->phone_tail = NULL;
    s->phone_minute = 0;
    s->phone_minute_count = 0;
}
