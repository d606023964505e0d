/* The items of issue 18 whose rules live in KState.Core and KState.Kho, tried through libkstate.so: limits the writer must
 * enforce (4), files that are not regions (5), failed restores that must release what they claimed (6, 7), one
 * folio in two slots (8), paths as bytes (11), reserved subtree names (12) and the minor items. Each scenario runs
 * in a forked child on its own region (REGION-n), so a crash is reported, not fatal.
 * Usage: core_rules REGION [SCENARIO]   Exit code: the number of failed scenarios. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <kstate.h>
#include "scenarios.h"


static void boot(void) { CHECK(kho_init(region, 8 << 20) == 0); }
static void next_generation(void)
{
    CHECK(kho_finalize() == 0);
    CHECK(kho_exit() == 0);
    CHECK(kho_init(region, 0) == 0);
    CHECK(is_kho_boot());
}

struct one { int i; };
static struct kstate_field one_fields[] = { KSTATE_BASE_TYPE(i, struct one, int), KSTATE_END_OF_LIST() };

/* --- 4: names the reader refuses are refused at the call ------------------------------------------------------ */
static void description_name_limit(void)
{
    static char n255[256], n256[257];
    memset(n255, 'd', 255);
    memset(n256, 'd', 256);
    struct kstate_description ok = { .name = n255, .id = 0xa001, .version_id = 1, .min_version_id = 1, .fields = one_fields };
    struct kstate_description too_long = ok;
    too_long.name = n256;
    too_long.id = 0xa002;
    struct one o = { 5 }, r = { 0 };
    boot();
    CHECK(kstate_save_state(&too_long, &o, 1) == -EINVAL);
    CHECK(kstate_register(&too_long, &o, 2) == -EINVAL);
    CHECK(kstate_save_state(&ok, &o, 1) == 0);          /* the longest name the reader takes */
    next_generation();
    CHECK(kstate_restore(&ok, &r, 1) == 0);
    CHECK(r.i == 5);
}

static void session_item_name_limit(void)
{
    static char n63[64], n64[65];
    memset(n63, 's', 63);
    memset(n64, 's', 64);
    struct kstate_description ok = { .name = n63, .id = 0xa003, .version_id = 1, .min_version_id = 1, .fields = one_fields };
    struct kstate_description too_long = ok;
    too_long.name = n64;
    too_long.id = 0xa004;
    static struct one o = { 6 };
    struct one r = { 0 };
    struct kstate_session *s;
    boot();
    CHECK(kstate_session_create("pending", &s) == 0);
    CHECK(kstate_session_save_state(s, &too_long, &o, 1) == -EINVAL);
    CHECK(kstate_session_save_state(s, &ok, &o, 2) == 0);
    next_generation();
    CHECK(kstate_session_retrieve("pending", &s) == 0);
    CHECK(kstate_session_restore(s, &ok, &r, 2) == 0);
    CHECK(r.i == 6);
    CHECK(kstate_session_finish(s) == 0);
}

/* --- 5: a user's file whose first bytes are zero is not a region: never formatted --------------------------- */
static void zero_headed_file_is_not_formatted(void)
{
    int fd = open(region, O_CREAT | O_EXCL | O_RDWR, 0600);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, 8 << 20) == 0);
    CHECK(pwrite(fd, "user data", 9, 1024) == 9);
    CHECK(pwrite(fd, "more data", 9, 5000) == 9);
    close(fd);
    CHECK(kho_init(region, 0) != 0);
    char a[10] = { 0 }, b[10] = { 0 };
    fd = open(region, O_RDONLY);
    CHECK(pread(fd, a, 9, 1024) == 9 && pread(fd, b, 9, 5000) == 9);
    close(fd);
    CHECK(strcmp(a, "user data") == 0);
    CHECK(strcmp(b, "more data") == 0);
}

/* --- 6: a restore whose post_load fails releases its folios; a retry works ----------------------------------- */
struct with_folio { int i; struct folio *f; };
static int refuse_once_calls;
static int refuse_once(void *o, int v) { (void)o; (void)v; return refuse_once_calls++ == 0 ? -ECANCELED : 0; }
static const struct kstate_field folio_fields[] = {
    KSTATE_BASE_TYPE(i, struct with_folio, int), KSTATE_FOLIO(f, struct with_folio), KSTATE_END_OF_LIST()
};
static const struct kstate_description folio_state = {
    .name = "pending/folio", .id = 0xa101, .version_id = 1, .min_version_id = 1, .fields = folio_fields,
    .post_load = refuse_once,
};

static struct with_folio saved_with_folio(unsigned char pattern)
{
    struct with_folio o = { 9, kho_folio_alloc(0) };
    memset(kho_folio_address(o.f), pattern, 4096);
    return o;
}

static void failed_post_load_releases_claims(void)
{
    boot();
    struct with_folio o = saved_with_folio(0x61);
    CHECK(kstate_save_state(&folio_state, &o, 1) == 0);
    next_generation();
    struct with_folio r = { 0, NULL };
    refuse_once_calls = 0;
    CHECK(kstate_restore(&folio_state, &r, 1) == -ECANCELED);
    CHECK(r.i == 0 && r.f == NULL);
    CHECK(kstate_restore(&folio_state, &r, 1) == 0);    /* the folio was released: the retry claims it */
    CHECK(r.i == 9 && r.f != NULL && ((unsigned char *)kho_folio_address(r.f))[4095] == 0x61);
}

static void failed_session_post_load_releases_claims(void)
{
    static struct with_folio o;
    struct kstate_session *s;
    boot();
    o = saved_with_folio(0x62);
    CHECK(kstate_session_create("pending", &s) == 0);
    CHECK(kstate_session_save_state(s, &folio_state, &o, 1) == 0);
    next_generation();
    struct with_folio r = { 0, NULL };
    refuse_once_calls = 0;
    CHECK(kstate_session_retrieve("pending", &s) == 0);
    CHECK(kstate_session_restore(s, &folio_state, &r, 1) == -ECANCELED);
    CHECK(kstate_session_finish(s) == -EBUSY);          /* the item is still to restore */
    CHECK(kstate_session_restore(s, &folio_state, &r, 1) == 0);
    CHECK(r.f != NULL && ((unsigned char *)kho_folio_address(r.f))[0] == 0x62);
    CHECK(kstate_session_finish(s) == 0);
}

/* --- 7: a mismatched description claims nothing -------------------------------------------------------------- */
/* Saved as base bytes that, read by a description with a pointer there, are a blob descriptor whose data segment
 * is the program's own preserved folio: the failing restore must not have claimed it. */
struct as_bytes { int i; unsigned char raw[36]; };
struct as_pointer { int i; unsigned long *p; };
static const struct kstate_description bytes_state = {
    .name = "pending/mismatch", .id = 0xa102, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(i, struct as_bytes, int), KSTATE_BASE_TYPE(raw, struct as_bytes, unsigned char [36]), KSTATE_END_OF_LIST()
    },
};
static const struct kstate_description pointer_state = {
    .name = "pending/mismatch", .id = 0xa102, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(i, struct as_pointer, int), KSTATE_POINTER(p, struct as_pointer), KSTATE_END_OF_LIST()
    },
};

static void mismatched_description_claims_nothing(void)
{
    boot();
    struct folio *own = kho_folio_alloc(0);             /* the program's own preserved folio */
    memset(kho_folio_address(own), 0x64, 4096);
    CHECK(kho_preserve_folio(own) == 0);
    phys_addr_t own_phys = kho_folio_phys(own);
    struct as_bytes o = { 1, { 0 } };
    uint32_t present = 1, kind = 1, chunks = 1;
    int64_t length = 8;
    uint64_t hash = 0x1234;
    memcpy(o.raw, &present, 4);                         /* the pointer's "present" count */
    memcpy(o.raw + 4, &kind, 4);                        /* blob: in data segments */
    memcpy(o.raw + 8, &chunks, 4);
    memcpy(o.raw + 12, &length, 8);
    memcpy(o.raw + 20, &hash, 8);
    memcpy(o.raw + 28, &own_phys, 8);                   /* its one segment: the program's folio */
    CHECK(kstate_save_state(&bytes_state, &o, 1) == 0);
    next_generation();
    struct as_pointer wrong = { 0, NULL };
    CHECK(kstate_restore(&pointer_state, &wrong, 1) < 0);
    CHECK(wrong.i == 0 && wrong.p == NULL);
    struct folio *back = kho_restore_folio(own_phys);
    CHECK(back != NULL && ((unsigned char *)kho_folio_address(back))[0] == 0x64);
    struct as_bytes r = { 0, { 0 } };
    CHECK(kstate_restore(&bytes_state, &r, 1) == 0);
    CHECK(memcmp(r.raw, o.raw, sizeof r.raw) == 0);
}

/* --- 8: one folio in two KS_FOLIO slots is refused at save --------------------------------------------------- */
struct two_folios { struct folio *a; struct folio *b; };
static const struct kstate_description two_folios_state = {
    .name = "pending/two-folios", .id = 0xa201, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) {
        KSTATE_FOLIO(a, struct two_folios), KSTATE_FOLIO(b, struct two_folios), KSTATE_END_OF_LIST()
    },
};
static void one_folio_in_two_slots(void)
{
    boot();
    struct folio *f = kho_folio_alloc(0);
    struct two_folios o = { f, f };
    CHECK(kstate_save_state(&two_folios_state, &o, 1) == -EINVAL);
    CHECK(kstate_register(&two_folios_state, &o, 2) == 0 ? kho_finalize() == -EINVAL : 1);
}

/* --- 11: a path is taken as bytes, exactly as given ---------------------------------------------------------- */
static void path_bytes(void)
{
    char raw[600];
    struct stat st;
    snprintf(raw, sizeof raw, "%s-\xff\xfe", region);
    CHECK(kho_init(raw, 4 << 20) == 0);
    CHECK(stat(raw, &st) == 0);                         /* that very name, not one with replacement characters */
    CHECK(kho_exit() == 0);
    unlink(raw);
    snprintf(raw, sizeof raw, "%s-\xef\xbf\xbd\xef\xbf\xbd", region);  /* what a decoding with replacement made */
    unlink(raw);
}

/* --- 12: reserved subtree names are refused at the call ------------------------------------------------------ */
static void reserved_subtree_name(void)
{
    boot();
    CHECK(kho_add_subtree("kstate", "x", 1) == -EINVAL);
    CHECK(kho_finalize() == 0);
}

/* --- minor items ----------------------------------------------------------------------------------------- */
static void version_overflow(void)
{
    struct kstate_description d = { .name = "pending/ver", .id = 0xa301, .version_id = INT_MAX, .min_version_id = 0, .fields = one_fields };
    struct one o = { 1 };
    boot();
    CHECK(kstate_save_state(&d, &o, 1) == -EINVAL);
    d.min_version_id = INT_MIN;
    CHECK(kstate_save_state(&d, &o, 2) == -EINVAL);
}

static int reg_rc = 1, unreg_rc = 1;
static struct one extra = { 2 };
static const struct kstate_description extra_state = {
    .name = "pending/extra", .id = 0xa402, .version_id = 1, .min_version_id = 1, .fields = one_fields,
};
static int registering_pre_save(void *o)
{
    (void)o;
    reg_rc = kstate_register(&extra_state, &extra, 1);
    unreg_rc = kstate_unregister(&extra_state, &extra, 7);
    return 0;
}
static void register_from_pre_save_during_finalize(void)
{
    static struct one o = { 1 };
    static const struct kstate_description d = {
        .name = "pending/registering", .id = 0xa401, .version_id = 1, .min_version_id = 1, .fields = one_fields,
        .pre_save = registering_pre_save,
    };
    boot();
    CHECK(kstate_register(&extra_state, &extra, 7) == 0);
    CHECK(kstate_register(&d, &o, 1) == 0);
    CHECK(kho_finalize() == 0);
    CHECK(reg_rc == -EBUSY);
    CHECK(unreg_rc == -EBUSY);
}

static void calls_after_finalize(void)
{
    static struct one o = { 1 }, p = { 2 };
    static const struct kstate_description d = {
        .name = "pending/after", .id = 0xa501, .version_id = 1, .min_version_id = 1, .fields = one_fields,
    };
    boot();
    CHECK(kstate_register(&d, &o, 1) == 0);
    CHECK(kho_finalize() == 0);
    CHECK(kstate_save_state(&d, &p, 2) == -EBUSY);
    CHECK(kstate_register(&d, &p, 3) == -EBUSY);
    CHECK(kstate_unregister(&d, &o, 1) == -EBUSY);
}

/* A chain of KS_STRUCT descriptions, 24 deep: each level holds the next. */
#define CHAIN 24
struct link { int v; char next[CHAIN * 4]; };
static struct kstate_description chain[CHAIN];
static struct kstate_field chain_fields[CHAIN][3];
static void build_chain(void)
{
    static char names[CHAIN][32];
    for (int i = CHAIN - 1; i >= 0; i--) {
        size_t size = (size_t)(CHAIN - i) * 4;         /* level i: its int and every deeper level's */
        snprintf(names[i], sizeof names[i], "pending/chain%d", i);
        chain_fields[i][0] = (struct kstate_field){ .name = "v", .offset = 0, .size = 4, .kind = KS_BASE_TYPE, .count = 1 };
        if (i < CHAIN - 1)
            chain_fields[i][1] = (struct kstate_field){ .name = "next", .offset = 4, .size = size - 4, .kind = KS_STRUCT, .count = 1, .ksd = &chain[i + 1] };
        else
            chain_fields[i][1] = (struct kstate_field){ .kind = KS_END };
        chain_fields[i][2] = (struct kstate_field){ .kind = KS_END };
        chain[i] = (struct kstate_description){ .name = names[i], .id = 0xa600 + (uint64_t)i, .version_id = 1, .min_version_id = 1, .fields = chain_fields[i] };
    }
}
static void chain_depth(int inner_first)
{
    static int obj[CHAIN];
    int verdict[CHAIN];
    build_chain();
    boot();
    for (int k = 0; k < CHAIN; k++) {
        int i = inner_first ? CHAIN - 1 - k : k;
        verdict[i] = kstate_register(&chain[i], obj + i, 1);
        CHECK(verdict[i] == 0 || verdict[i] == -EINVAL);
    }
    CHECK(verdict[0] == -EINVAL);                       /* 24 deep: refused, whatever was used first */
    for (int i = 1; i < CHAIN; i++)
        CHECK(verdict[i] <= verdict[i - 1] || verdict[i] == 0);  /* shallower descriptions are not refused where deeper ones pass */
    next_generation();                                  /* whatever was accepted is saved */
    for (int i = 0; i < CHAIN; i++)
        if (verdict[i] == 0) {
            int r[CHAIN] = { 0 };
            CHECK(kstate_restore(&chain[i], r, 1) == 0);
        }
}
static void chain_depth_outer_first(void) { chain_depth(0); }
static void chain_depth_inner_first(void) { chain_depth(1); }

struct wrapping { char *p; };
static void pointer_size_overflow(void)
{
    static char c;
    struct wrapping o = { &c };
    struct kstate_description d = {
        .name = "pending/wrap", .id = 0xa701, .version_id = 1, .min_version_id = 1,
        .fields = (const struct kstate_field[]) {
            { .name = "p", .offset = 0, .size = 0x10000, .kind = KS_POINTER, .count = 0x10000 }, KSTATE_END_OF_LIST()
        },
    };
    boot();
    CHECK(kstate_save_state(&d, &o, 1) == -EINVAL);
    CHECK(kstate_register(&d, &o, 2) == -EINVAL);
}

static int first_put_error;
static int flooding_save(struct kstate_stream *s, void *o, const struct kstate_field *f)
{
    static char chunk[1 << 20];
    (void)o; (void)f;
    for (int i = 0; i < 64; i++) {
        int rc = kstate_save_data(s, chunk, sizeof chunk);
        if (rc && !first_put_error)
            first_put_error = rc;               /* a sloppy callback: it goes on and returns 0 */
    }
    return 0;
}
static int noop_restore(struct kstate_stream *s, void *o, const struct kstate_field *f) { (void)s; (void)o; (void)f; return 0; }
struct flood { int x; };
static const struct kstate_field flood_fields[] = { KSTATE_CUSTOM(x, struct flood, flooding_save, noop_restore), KSTATE_END_OF_LIST() };
static void custom_save_no_space(void)
{
    struct flood o = { 1 };
    static const struct kstate_description d = {
        .name = "pending/flood", .id = 0xa801, .version_id = 1, .min_version_id = 1,
        .fields = flood_fields,
    };
    boot();
    int rc = kstate_save_state(&d, &o, 1);
    CHECK(first_put_error == -ENOSPC || first_put_error == -ENOMEM);
    CHECK(rc == first_put_error);                       /* the first real error, not "nested records unbalanced" or 0 */
}

static const struct scenario scenarios[] = {
    { "description-name-over-255", description_name_limit },
    { "session-item-name-over-63", session_item_name_limit },
    { "zero-headed-file-is-not-formatted", zero_headed_file_is_not_formatted },
    { "failed-post_load-releases-claims", failed_post_load_releases_claims },
    { "failed-session-post_load-releases-claims", failed_session_post_load_releases_claims },
    { "mismatched-description-claims-nothing", mismatched_description_claims_nothing },
    { "one-folio-in-two-slots", one_folio_in_two_slots },
    { "path-bytes", path_bytes },
    { "reserved-subtree-name", reserved_subtree_name },
    { "version-overflow", version_overflow },
    { "register-from-pre_save-during-finalize", register_from_pre_save_during_finalize },
    { "calls-after-finalize", calls_after_finalize },
    { "chain-depth-outer-first", chain_depth_outer_first },
    { "chain-depth-inner-first", chain_depth_inner_first },
    { "pointer-size-overflow", pointer_size_overflow },
    { "custom-save-no-space", custom_save_no_space },
};

int main(int argc, char **argv)
{
    return run_scenarios(argc, argv, scenarios, sizeof scenarios / sizeof scenarios[0], 0);
}
