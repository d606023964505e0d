/* Contract test of kstate.h: every function and every error code, the version matrix, custom fields,
 * subsections with needed, pointer allocation, folios and sessions. Generations are kho_init/kho_exit cycles on
 * one region.
 * Prints one line per failed check; exits with the number of failures.  Usage: abi_test REGION */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kstate.h>

static int failures, checks;
#define CHECK(cond) do { checks++; if (!(cond)) { failures++; \
    printf("FAIL %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, #cond, kstate_last_error()); } } while (0)
#define EQ(a, b) CHECK((a) == (b))

/* --- descriptions --------------------------------------------------------------------------------------- */
struct inner { int x; int y; };
struct obj {
    int i;
    long v2_field;                  /* since version 2 */
    unsigned long *p;               /* pointer to a scalar */
    struct folio *folio;
    struct inner in;
    int custom;                     /* saved by callbacks as text */
    int sub_value;                  /* carried by a subsection */
    int sub_needed;
};

static int custom_save(struct kstate_stream *s, void *o, const struct kstate_field *f)
{
    char text[32];
    int n = snprintf(text, sizeof text, "custom=%d", ((struct obj *)o)->custom);
    (void)f;
    return kstate_save_data(s, &n, sizeof n) ?: kstate_save_data(s, text, (size_t)n);
}

static int custom_restore(struct kstate_stream *s, void *o, const struct kstate_field *f)
{
    char text[32] = { 0 };
    int n, err = kstate_restore_data(s, &n, sizeof n);
    (void)f;
    if (err)
        return err;
    if (n < 0 || n >= (int)sizeof text)
        return -EBADMSG;
    if ((err = kstate_restore_data(s, text, (size_t)n)))
        return err;
    ((struct obj *)o)->custom = atoi(text + 7);
    return kstate_restore_data(s, text, 1) == -EBADMSG ? 0 : -EINVAL; /* nothing is left: reading on is refused */
}

static int greedy_restore(struct kstate_stream *s, void *o, const struct kstate_field *f)
{
    char big[1000];
    (void)o; (void)f;
    return kstate_restore_data(s, big, sizeof big);
}

static bool sub_needed(void *o) { return ((struct obj *)o)->sub_needed != 0; }
static int post_load_calls, post_load_version;
static int post_load(void *o, int version) { (void)o; post_load_calls++; post_load_version = version; return 0; }
static int refuse(void *o) { (void)o; return -EPERM; }

static const struct kstate_description inner_state = {
    .name = "abi-test/inner", .id = 0x1001, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(x, struct inner, int),
        KSTATE_BASE_TYPE(y, struct inner, int),
        KSTATE_END_OF_LIST()
    },
};

static const struct kstate_description sub_state = {
    .name = "abi-test/sub", .id = 0x1002, .version_id = 1, .min_version_id = 1, .needed = sub_needed,
    .fields = (const struct kstate_field[]) { KSTATE_BASE_TYPE(sub_value, struct obj, int), KSTATE_END_OF_LIST() },
};

static const struct kstate_description *subs[] = { &sub_state, NULL };

#define OBJ_FIELDS_V1 \
    KSTATE_BASE_TYPE(i, struct obj, int), \
    KSTATE_POINTER(p, struct obj), \
    KSTATE_FOLIO(folio, struct obj), \
    KSTATE_STRUCT(in, struct obj, &inner_state), \
    KSTATE_CUSTOM(custom, struct obj, custom_save, custom_restore)

static const struct kstate_description obj_v1 = {
    .name = "abi-test/obj", .id = 0x1000, .version_id = 1, .min_version_id = 1, .subsections = subs,
    .fields = (const struct kstate_field[]) { OBJ_FIELDS_V1, KSTATE_END_OF_LIST() },
};

static const struct kstate_description obj_v2 = {
    .name = "abi-test/obj", .id = 0x1000, .version_id = 2, .min_version_id = 1, .subsections = subs,
    .post_load = post_load,
    .fields = (const struct kstate_field[]) {
        OBJ_FIELDS_V1, KSTATE_BASE_TYPE_V(v2_field, struct obj, long, 2), KSTATE_END_OF_LIST()
    },
};

static const struct kstate_description obj_min2 = {
    .name = "abi-test/obj", .id = 0x1000, .version_id = 2, .min_version_id = 2,
    .fields = (const struct kstate_field[]) { KSTATE_BASE_TYPE(i, struct obj, int), KSTATE_END_OF_LIST() },
};

static const struct kstate_description obj_greedy = {
    .name = "abi-test/obj", .id = 0x1000, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(i, struct obj, int), KSTATE_POINTER(p, struct obj), KSTATE_FOLIO(folio, struct obj),
        KSTATE_STRUCT(in, struct obj, &inner_state), KSTATE_CUSTOM(custom, struct obj, custom_save, greedy_restore),
        KSTATE_END_OF_LIST()
    },
};

static const struct kstate_description overlapping = {
    .name = "abi-test/bad", .id = 0x2000, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(i, struct obj, int),
        { .name = "overlaps_i", .offset = 2, .size = 4, .kind = KS_BASE_TYPE },
        KSTATE_END_OF_LIST()
    },
};

static const struct kstate_description refusing = {
    .name = "abi-test/refusing", .id = 0x3000, .version_id = 1, .min_version_id = 1, .pre_save = refuse,
    .fields = (const struct kstate_field[]) { KSTATE_BASE_TYPE(i, struct obj, int), KSTATE_END_OF_LIST() },
};

/* --- generations ---------------------------------------------------------------------------------------- */
static phys_addr_t kept_phys, range_phys, never_preserved;
static unsigned long pointee = 0xabcdef;

static void generation_one(const char *region)
{
    EQ(kho_exit(), -EINVAL);
    EQ(kho_init(NULL, 1 << 20), -EINVAL);
    EQ(kho_init(region, 12345), -EINVAL);
    EQ(kho_init("/dev/shm/kstate-abi-too-big", 1ULL << 40), -ENOSPC);
    EQ(kho_init(region, 16 << 20), 0);
    EQ(kho_init(region, 16 << 20), -EBUSY);
    CHECK(!is_kho_boot());

    /* folios and translation */
    for (unsigned o = 0; o <= 10; o++) {
        struct folio *f = kho_folio_alloc(o);
        CHECK(f != NULL);
        EQ(kho_folio_order(f), o);
        CHECK(kho_folio_address(f) != NULL);
        EQ(kho_virt_to_phys(kho_folio_address(f)), kho_folio_phys(f));
        CHECK(kho_phys_to_virt(kho_folio_phys(f)) == kho_folio_address(f));
        kho_folio_put(f);
    }
    CHECK(kho_folio_alloc(11) == NULL);
    CHECK(kho_phys_to_virt(0) == NULL);
    EQ(kho_virt_to_phys(&failures), 0);

    /* preservation and its errors */
    struct folio *keep = kho_folio_alloc(2);
    memset(kho_folio_address(keep), 0x42, 4 << 12);
    EQ(kho_preserve_folio(keep), 0);
    EQ(kho_preserve_folio(keep), -EEXIST);
    EQ(kho_preserve_folio(NULL), -EINVAL);
    struct folio *other = kho_folio_alloc(0);
    EQ(kho_unpreserve_folio(other), -ENOENT);
    EQ(kho_preserve_folio(other), 0);
    EQ(kho_unpreserve_folio(other), 0);
    never_preserved = kho_folio_phys(other);
    kept_phys = kho_folio_phys(keep);

    struct folio *big = kho_folio_alloc(3);
    range_phys = kho_folio_phys(big) + 4096;
    memset(kho_phys_to_virt(range_phys), 0x77, 3 * 4096);
    EQ(kho_preserve_phys(range_phys + 1, 4096), -EINVAL);
    EQ(kho_preserve_phys(range_phys, 3 * 4096), 0);
    EQ(kho_unpreserve_phys(range_phys, 2 * 4096), -ENOENT);
    EQ(kho_preserve_phys(range_phys, 4096), -EEXIST);

    /* subtrees */
    EQ(kho_add_subtree("abi-test", "hello", 6), 0);
    EQ(kho_add_subtree("abi-test", "again", 6), -EEXIST);
    EQ(kho_add_subtree("bad/name", "x", 1), -EINVAL);
    const void *blob; size_t size;
    EQ(kho_retrieve_subtree("abi-test", &blob, &size), -ENOENT); /* outgoing subtrees are not incoming ones */

    /* descriptions and registry */
    static struct obj o;
    o.i = 7; o.p = &pointee; o.folio = kho_folio_alloc(0); o.in.x = 3; o.in.y = 4; o.custom = 99;
    o.sub_value = 5; o.sub_needed = 1; o.v2_field = 1;
    memset(kho_folio_address(o.folio), 0x33, 4096);
    EQ(kstate_register(&obj_v1, &o, 1), 0);
    EQ(kstate_register(&obj_v1, &o, 1), -EEXIST);
    EQ(kstate_unregister(&obj_v1, &o, 2), -ENOENT);
    EQ(kstate_register(&obj_v1, &o, 9), 0);
    EQ(kstate_unregister(&obj_v1, &o, 9), 0);
    EQ(kstate_save_state(&overlapping, &o, 1), -EINVAL);
    CHECK(strstr(kstate_last_error(), "overlaps") != NULL);
    EQ(kstate_save_state(&refusing, &o, 1), -EPERM);
    EQ(kstate_save_state(NULL, &o, 1), -EINVAL);
    EQ(kstate_restore(&obj_v1, &o, 1), -ENOENT); /* a cold boot has nothing */
    static struct obj o2;
    o2 = o; o2.i = 8; o2.sub_needed = 0; o2.sub_value = 55;
    EQ(kstate_save_state(&obj_v1, &o2, 2), 0);
    EQ(kstate_save_state(&obj_v2, &o2, 3), 0);

    /* finalize, busy, abort, finalize */
    EQ(kho_finalize(), 0);
    EQ(kho_finalize(), -EBUSY);
    EQ(kho_preserve_folio(other), -EBUSY);
    EQ(kho_abort(), 0);
    EQ(kho_abort(), -EINVAL);
    EQ(kho_finalize(), 0);
    EQ(kho_exit(), 0);
}

static void generation_two(const char *region)
{
    EQ(kho_init(region, 0), 0);
    CHECK(is_kho_boot());

    struct folio *f = kho_restore_folio(kept_phys);
    CHECK(f != NULL);
    EQ(kho_folio_order(f), 2);
    CHECK(((unsigned char *)kho_folio_address(f))[16383] == 0x42);
    CHECK(kho_restore_folio(kept_phys) == NULL);
    CHECK(kho_restore_folio(never_preserved) == NULL);
    CHECK(kho_restore_phys(range_phys, 2 * 4096) == NULL);
    unsigned char *r = kho_restore_phys(range_phys, 3 * 4096);
    CHECK(r != NULL && r[0] == 0x77 && r[3 * 4096 - 1] == 0x77);
    CHECK(kho_restore_phys(range_phys, 3 * 4096) == NULL);

    const void *blob; size_t size;
    EQ(kho_retrieve_subtree("abi-test", &blob, &size), 0);
    CHECK(size == 6 && strcmp(blob, "hello") == 0);
    EQ(kho_retrieve_subtree("missing", &blob, &size), -ENOENT);
    EQ(kho_retrieve_subtree("abi-test", NULL, &size), -EINVAL);

    /* the registered object: a NULL pointer gets malloc'd memory */
    static struct obj o;
    o.v2_field = -5;
    post_load_calls = 0;
    EQ(kstate_restore(&obj_v2, &o, 1), 0);
    EQ(o.i, 7);
    CHECK(o.p != NULL && *o.p == 0xabcdef);
    free(o.p);
    CHECK(o.folio != NULL && ((unsigned char *)kho_folio_address(o.folio))[4095] == 0x33);
    EQ(o.in.x, 3); EQ(o.in.y, 4);
    EQ(o.custom, 99);
    EQ(o.sub_value, 5);
    EQ(o.v2_field, -5);                          /* a v1 record: the v2 field keeps its value */
    EQ(post_load_calls, 1); EQ(post_load_version, 1);

    /* instance 2: pointer restored in place, subsection not needed so not sent */
    static struct obj t;
    unsigned long in_place = 0;
    t.p = &in_place; t.sub_value = -1;
    EQ(kstate_restore(&obj_v1, &t, 2), -EBADMSG);  /* its folio is the same folio, already restored above */
    EQ(t.i, 0);                                   /* a failed restore leaves the object as it was */

    /* instance 3 was saved with version 2 */
    EQ(kstate_restore(&obj_v1, &t, 3), -EPROTO);
    EQ(kstate_restore(&obj_min2, &t, 1), -EPROTO);
    EQ(kstate_restore(&obj_v2, &t, 4), -ENOENT);
    EQ(kstate_restore(&obj_greedy, &t, 1), -EBADMSG); /* a custom restore cannot read past its bytes */

    /* error texts */
    int codes[] = { 0, -ENOENT, -EBADMSG, -EPROTO, -EINVAL, -ENOMEM, -ENOSPC, -EBUSY, -EEXIST };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        CHECK(kstate_strerror(codes[i]) != NULL && strcmp(kstate_strerror(codes[i]), "unknown error") != 0);
    CHECK(strcmp(kstate_strerror(-12345), "unknown error") == 0);
    CHECK(kstate_strerror(-2147483647 - 1) != NULL);

    /* running out of memory: allocation gives NULL, finalize gives -ENOMEM */
    while (kho_folio_alloc(0))
        ;
    EQ(kho_finalize(), -ENOMEM);
    EQ(kho_exit(), 0);
}

/* --- sessions ------------------------------------------------------------------------------------------- */
static struct kstate_session *stale_alpha;
static char name63[64], name64[65];
static unsigned long alpha_pointee_10 = 0x1010, alpha_pointee_30 = 0x3030;

static void fill(struct obj *o, int base, unsigned long *p, unsigned char pattern)
{
    o->i = base; o->p = p; o->in.x = base + 1; o->in.y = base + 2; o->custom = base + 3;
    o->sub_value = base + 4; o->sub_needed = 1;
    o->folio = kho_folio_alloc(0);
    memset(kho_folio_address(o->folio), pattern, 4096);
}

static void check_obj(const struct obj *o, int base, unsigned long pointee_value, unsigned char pattern)
{
    EQ(o->i, base);
    CHECK(o->p != NULL && *o->p == pointee_value);
    CHECK(o->folio != NULL && ((unsigned char *)kho_folio_address(o->folio))[0] == pattern
          && ((unsigned char *)kho_folio_address(o->folio))[4095] == pattern);
    EQ(o->in.x, base + 1); EQ(o->in.y, base + 2);
    EQ(o->custom, base + 3);
    EQ(o->sub_value, base + 4);
}

/* A cold boot: sessions are created and filled, finalize fails, is aborted, and commits. */
static void sessions_one(const char *region)
{
    struct kstate_session *s = NULL, *alpha = NULL, *beta = NULL, *shared = NULL, *scratch = NULL, *refuse = NULL;
    memset(name63, 'n', 63);
    memset(name64, 'n', 64);

    EQ(kstate_session_create("alpha", &s), -EINVAL); /* nothing is booted */
    EQ(kho_init(region, 0), 0);
    CHECK(!is_kho_boot());
    EQ(kstate_session_retrieve("alpha", &s), -ENOENT); /* a cold boot has no sessions */
    CHECK(s == NULL);

    /* create */
    EQ(kstate_session_create("alpha", &alpha), 0);
    CHECK(alpha != NULL);
    EQ(kstate_session_create("alpha", &s), -EEXIST);
    EQ(kstate_session_create("", &s), -EINVAL);
    EQ(kstate_session_create(name64, &s), -EINVAL);
    EQ(kstate_session_create("\xff\xfe", &s), -EINVAL);   /* not UTF-8 */
    EQ(kstate_session_create(NULL, &s), -EINVAL);
    EQ(kstate_session_create("gamma", NULL), -EINVAL);
    EQ(kstate_session_create(name63, &beta), 0);
    CHECK(beta != NULL && beta != alpha);
    EQ(kstate_session_create("shared-folio", &shared), 0);

    /* save_state: alpha holds two objects with a pointer and a folio each, and a nested struct */
    static struct obj a10, a30, s1, s2;
    static struct inner a20 = { 61, 62 }, b10 = { 71, 72 }, b11 = { 81, 82 };
    fill(&a10, 100, &alpha_pointee_10, 0x10);
    fill(&a30, 300, &alpha_pointee_30, 0x30);
    EQ(kstate_session_save_state(alpha, &obj_v1, &a10, 10), 0);
    EQ(kstate_session_save_state(alpha, &inner_state, &a20, 20), 0);
    EQ(kstate_session_save_state(alpha, &obj_v1, &a30, 30), 0);
    EQ(kstate_session_save_state(alpha, &inner_state, &a20, 30), -EEXIST);
    EQ(kstate_session_save_state(alpha, &obj_v1, NULL, 40), -EINVAL);
    EQ(kstate_session_save_state(alpha, NULL, &a10, 40), -EINVAL);
    EQ(kstate_session_save_state(alpha, &overlapping, &a10, 40), -EINVAL);
    EQ(kstate_session_save_state(NULL, &obj_v1, &a10, 40), -EINVAL);
    EQ(kstate_session_save_state((struct kstate_session *)0x12345678, &obj_v1, &a10, 40), -EINVAL);
    EQ(kstate_session_save_state((struct kstate_session *)&a10, &obj_v1, &a10, 40), -EINVAL);
    EQ(kstate_session_save_state(beta, &inner_state, &b10, 10), 0);  /* tokens are per session */
    /* two items on one folio: the second cannot restore it again */
    fill(&s1, 500, &alpha_pointee_10, 0x50);
    s2 = s1;
    EQ(kstate_session_save_state(shared, &obj_v1, &s1, 1), 0);
    EQ(kstate_session_save_state(shared, &obj_v1, &s2, 2), 0);

    /* an outgoing session is not restored or finished */
    EQ(kstate_session_restore(alpha, &obj_v1, &a10, 10), -EINVAL);
    EQ(kstate_session_finish(alpha), -EINVAL);
    EQ(kstate_session_finish(NULL), -EINVAL);

    /* close (beyond the contract): the items go, the name is free again */
    EQ(kstate_session_create("scratch", &scratch), 0);
    EQ(kstate_session_save_state(scratch, &inner_state, &a20, 1), 0);
    EQ(kstate_session_close(scratch), 0);
    EQ(kstate_session_close(scratch), -EINVAL);
    EQ(kstate_session_save_state(scratch, &inner_state, &a20, 2), -EINVAL);
    EQ(kstate_session_create("scratch", &scratch), 0);  /* saved empty */

    /* a failing pre_save fails the finalize; the sessions stay open */
    EQ(kstate_session_create("refuse", &refuse), 0);
    EQ(kstate_session_save_state(refuse, &refusing, &a10, 1), 0);
    EQ(kho_finalize(), -EPERM);
    EQ(kstate_session_save_state(alpha, &inner_state, &a20, 50), 0);
    EQ(kstate_session_save_state(alpha, &inner_state, &a20, 50), -EEXIST);
    EQ(kstate_session_close(refuse), 0);
    EQ(kho_finalize(), 0);

    /* finalized: sessions are frozen */
    EQ(kstate_session_create("late", &s), -EBUSY);
    EQ(kstate_session_save_state(beta, &inner_state, &b11, 11), -EBUSY);
    EQ(kstate_session_close(beta), -EBUSY);
    EQ(kho_abort(), 0);
    EQ(kstate_session_save_state(beta, &inner_state, &b11, 11), 0); /* saved by the next finalize */
    EQ(kho_finalize(), 0);
    EQ(kho_exit(), 0);
    EQ(kstate_session_save_state(alpha, &inner_state, &a20, 60), -EINVAL); /* the handle died with the generation */
    stale_alpha = alpha;
}

/* The KHO boot after it: sessions are retrieved, restored in another order, and finished. */
static void sessions_two(const char *region)
{
    struct kstate_session *s = NULL, *alpha = NULL, *beta = NULL, *shared = NULL, *scratch = NULL;
    EQ(kho_init(region, 0), 0);
    CHECK(is_kho_boot());

    /* handles do not survive kho_exit, even into a boot that has the session again */
    EQ(kstate_session_finish(stale_alpha), -EINVAL);
    EQ(kstate_session_restore(stale_alpha, &inner_state, &s, 20), -EINVAL);

    /* retrieve */
    EQ(kstate_session_retrieve("nope", &s), -ENOENT);
    EQ(kstate_session_retrieve("refuse", &s), -ENOENT);  /* closed before finalize: not saved */
    EQ(kstate_session_retrieve("", &s), -EINVAL);
    EQ(kstate_session_retrieve(name64, &s), -EINVAL);
    EQ(kstate_session_retrieve(NULL, &s), -EINVAL);
    EQ(kstate_session_retrieve("alpha", NULL), -EINVAL);
    EQ(kstate_session_retrieve("alpha", &alpha), 0);
    CHECK(alpha != NULL && alpha != stale_alpha);
    EQ(kstate_session_retrieve("alpha", &s), -EBUSY);
    CHECK(s == NULL);

    /* a retrieved session is not saved into or closed */
    static struct inner in20, other20;
    EQ(kstate_session_save_state(alpha, &inner_state, &in20, 99), -EINVAL);
    EQ(kstate_session_close(alpha), -EINVAL);

    /* restore errors leave the item to restore */
    static struct obj r10, r30, other30;
    EQ(kstate_session_restore(alpha, &obj_v1, &r10, 99), -ENOENT);
    EQ(kstate_session_restore(alpha, &obj_v1, NULL, 10), -EINVAL);
    EQ(kstate_session_restore(alpha, NULL, &r10, 10), -EINVAL);
    EQ(kstate_session_restore(alpha, &inner_state, &r10, 10), -EINVAL); /* saved with another description */
    EQ(kstate_session_restore(alpha, &obj_min2, &r10, 10), -EPROTO);    /* a v1 record, min_version_id 2 */
    EQ(r10.i, 0);

    /* items in another order than saved: 30, 50, 20, then 10 */
    EQ(kstate_session_restore(alpha, &obj_v1, &r30, 30), 0);            /* p is NULL: malloc'd */
    check_obj(&r30, 300, 0x3030, 0x30);
    EQ(kstate_session_restore(alpha, &obj_v1, &r30, 30), 0);            /* again into the same object: nothing */
    EQ(kstate_session_restore(alpha, &obj_v1, &other30, 30), -EBUSY);
    EQ(other30.i, 0);
    EQ(kstate_session_restore(alpha, &inner_state, &other20, 50), 0);
    EQ(other20.x, 61); EQ(other20.y, 62);
    EQ(kstate_session_finish(alpha), -EBUSY);                           /* 10 and 20 are not restored */
    EQ(kstate_session_restore(alpha, &inner_state, &in20, 20), 0);      /* finish refused: the session is intact */
    EQ(in20.x, 61); EQ(in20.y, 62);
    EQ(kstate_session_finish(alpha), -EBUSY);                           /* 10 is not restored */
    unsigned long in_place = 0;
    r10.p = &in_place;
    EQ(kstate_session_restore(alpha, &obj_v1, &r10, 10), 0);
    check_obj(&r10, 100, 0x1010, 0x10);
    CHECK(r10.p == &in_place);                                          /* a non-NULL pointer is filled in place */
    EQ(kstate_session_finish(alpha), 0);
    EQ(kstate_session_finish(alpha), -EINVAL);                          /* the handle ended with it */
    EQ(kstate_session_restore(alpha, &obj_v1, &r10, 10), -EINVAL);
    EQ(kstate_session_retrieve("alpha", &s), -EBUSY);
    free(r30.p);

    /* the 63-byte name, and the item saved after kho_abort */
    static struct inner b10, b11;
    EQ(kstate_session_retrieve(name63, &beta), 0);
    EQ(kstate_session_restore(beta, &inner_state, &b11, 11), 0);
    EQ(kstate_session_restore(beta, &inner_state, &b10, 10), 0);
    EQ(b10.x, 71); EQ(b10.y, 72); EQ(b11.x, 81); EQ(b11.y, 82);
    EQ(kstate_session_finish(beta), 0);

    /* an empty session finishes at once */
    EQ(kstate_session_retrieve("scratch", &scratch), 0);
    EQ(kstate_session_finish(scratch), 0);

    /* a damaged item: its folio is already restored, so the session cannot finish */
    static struct obj f1, f2;
    EQ(kstate_session_retrieve("shared-folio", &shared), 0);
    EQ(kstate_session_restore(shared, &obj_v1, &f1, 1), 0);
    check_obj(&f1, 500, 0x1010, 0x50);
    free(f1.p);
    EQ(kstate_session_restore(shared, &obj_v1, &f2, 2), -EBADMSG);
    EQ(kstate_session_finish(shared), -EBUSY);
    EQ(kstate_session_discard(shared, 1), -EINVAL);                     /* restored: it is finished with the session */
    EQ(kstate_session_discard(shared, 99), -ENOENT);
    EQ(kstate_session_discard(NULL, 2), -EINVAL);
    EQ(kstate_session_discard(shared, 2), 0);                           /* given up on purpose */
    EQ(kstate_session_restore(shared, &obj_v1, &f2, 2), -EINVAL);
    EQ(kstate_session_finish(shared), 0);
    CHECK(kstate_session_retrieve("shared-folio", &shared) == -EBUSY);

    EQ(kho_exit(), 0);                                                  /* no finalize: the next boot is cold */
}

static void sessions_three(const char *region)
{
    struct kstate_session *s = NULL;
    EQ(kho_init(region, 0), 0);
    CHECK(!is_kho_boot());
    EQ(kstate_session_retrieve("alpha", &s), -ENOENT);
    EQ(kho_exit(), 0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: abi_test REGION\n");
        return 2;
    }
    generation_one(argv[1]);
    generation_two(argv[1]);
    sessions_one(argv[1]);
    sessions_two(argv[1]);
    sessions_three(argv[1]);
    printf("%d checks, %d failed\n", checks, failures);
    return failures;
}
