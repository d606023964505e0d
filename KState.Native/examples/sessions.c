/* Sessions: a service hands two groups of state to its next process, each under a name, items under tokens.
 *   sessions save REGION      generation 1: two connections into session "net", a cache into "cache"; finalize
 *   sessions restore REGION   generation 2: retrieve both, restore items in any order, finish each session
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kstate.h>

struct conn { int fd; unsigned short port; char peer[16]; unsigned long *bytes; };
struct cache { int entries; struct folio *folio; };

static const struct kstate_description conn_state = {
    .name = "acme-net/conn", .id = 0xc0ee, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(fd, struct conn, int),
        KSTATE_BASE_TYPE(port, struct conn, unsigned short),
        KSTATE_BASE_TYPE(peer, struct conn, char [16]),
        KSTATE_POINTER(bytes, struct conn),
        KSTATE_END_OF_LIST()
    },
};

static const struct kstate_description cache_state = {
    .name = "acme-net/cache", .id = 0xcac4e, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(entries, struct cache, int),
        KSTATE_FOLIO(folio, struct cache),
        KSTATE_END_OF_LIST()
    },
};

static int fail(const char *what, int err)
{
    fprintf(stderr, "sessions: %s: %s (%s)\n", what, kstate_strerror(err), kstate_last_error());
    return 1;
}

static int save(void)
{
    /* saved at kho_finalize: the objects must stay valid until then */
    static unsigned long sent[2] = { 1500, 90000 };
    static struct conn c1 = { .fd = 7, .port = 8080, .peer = "10.0.0.1", .bytes = &sent[0] };
    static struct conn c2 = { .fd = 9, .port = 443, .peer = "10.0.0.2", .bytes = &sent[1] };
    static struct cache k = { .entries = 3 };
    struct kstate_session *net, *cache;
    int err;

    if (!(k.folio = kho_folio_alloc(0)))
        return fail("kho_folio_alloc", -12);
    memset(kho_folio_address(k.folio), 0xca, 4096);
    if ((err = kstate_session_create("net", &net)) || (err = kstate_session_create("cache", &cache)))
        return fail("kstate_session_create", err);
    if ((err = kstate_session_save_state(net, &conn_state, &c1, 1)) ||
        (err = kstate_session_save_state(net, &conn_state, &c2, 2)) ||
        (err = kstate_session_save_state(cache, &cache_state, &k, 1)))
        return fail("kstate_session_save_state", err);
    if ((err = kho_finalize()))
        return fail("kho_finalize", err);
    printf("saved: net 2 connections, cache %d entries\n", k.entries);
    return 0;
}

static int restore(void)
{
    static struct conn c[2];                /* bytes is NULL: restore mallocs it */
    static struct cache k;
    struct kstate_session *net, *cache;
    int err;

    /* on a cold boot, retrieve says -ENOENT */
    if ((err = kstate_session_retrieve("cache", &cache)) || (err = kstate_session_retrieve("net", &net)))
        return fail("kstate_session_retrieve", err);
    if ((err = kstate_session_restore(net, &conn_state, &c[1], 2)) ||
        (err = kstate_session_restore(net, &conn_state, &c[0], 1)) ||
        (err = kstate_session_restore(cache, &cache_state, &k, 1)))
        return fail("kstate_session_restore", err);
    if ((err = kstate_session_finish(net)) || (err = kstate_session_finish(cache)))
        return fail("kstate_session_finish", err);
    const unsigned char *page = kho_folio_address(k.folio);
    int ok = page && page[0] == 0xca && page[4095] == 0xca;
    for (int i = 0; i < 2; i++)
        printf("restored: conn %d fd=%d port=%u peer=%s bytes=%lu\n", i + 1, c[i].fd, c[i].port, c[i].peer, *c[i].bytes);
    printf("restored: cache entries=%d folio contents %s\n", k.entries, ok ? "ok" : "WRONG");
    free(c[0].bytes);
    free(c[1].bytes);
    return ok && k.entries == 3 && c[1].port == 443 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "save") && strcmp(argv[1], "restore"))) {
        fprintf(stderr, "usage: sessions save|restore REGION\n");
        return 2;
    }
    int saving = strcmp(argv[1], "save") == 0;
    int err = kho_init(argv[2], saving ? 16 << 20 : 0);
    if (err)
        return fail("kho_init", err);
    if (saving ? save() : restore())
        return 1;
    return kho_exit() ? 1 : 0;
}
