/* Descriptions that change under the same pointer (issue 18, item 9), what a custom restore callback may write
 * (item 10) and pointer members filled in place (item 13). Each scenario (all, or the one named) runs in a forked
 * child on its own region (REGION-n): two generations, the second restoring what the first saved.
 * Usage: descriptions REGION [SCENARIO]   Exit code: the number of failed scenarios. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <kstate.h>
#include "scenarios.h"


static void next_generation(void)
{
    CHECK(kho_finalize() == 0);
    CHECK(kho_exit() == 0);
    CHECK(kho_init(region, 0) == 0);
    CHECK(is_kho_boot());
}

/* --- item 9: one description rewritten in place ------------------------------------------------------------ */
struct pair { long a; long b; };
static struct kstate_field one_field[] = { KSTATE_BASE_TYPE(a, struct pair, long), KSTATE_END_OF_LIST() };
static struct kstate_field two_fields[] = {
    KSTATE_BASE_TYPE(a, struct pair, long), KSTATE_BASE_TYPE(b, struct pair, long), KSTATE_END_OF_LIST()
};
static const struct kstate_description pair_a = {
    .name = "descriptions/a", .id = 0x9001, .version_id = 1, .min_version_id = 1, .fields = one_field,
};
static const struct kstate_description pair_ab = {
    .name = "descriptions/ab", .id = 0x9002, .version_id = 1, .min_version_id = 1, .fields = two_fields,
};

static void rewritten_in_place(void)
{
    static struct kstate_description d;        /* one address, two contents */
    struct pair p = { 11, 22 };
    d = pair_a;
    CHECK(kstate_save_state(&d, &p, 1) == 0);
    d = pair_ab;                                /* another id, another field table */
    CHECK(kstate_save_state(&d, &p, 2) == 0);
    d.version_id = 2;                           /* only the version changes */
    CHECK(kstate_save_state(&d, &p, 3) == 0);
    next_generation();
    struct pair r1 = { 0, -1 }, r2 = { 0, 0 }, r3 = { 0, 0 };
    d = pair_ab;
    d.version_id = 2;
    CHECK(kstate_restore(&pair_a, &r1, 1) == 0);
    CHECK(r1.a == 11 && r1.b == -1);
    CHECK(kstate_restore(&pair_ab, &r2, 2) == 0);
    CHECK(r2.a == 11 && r2.b == 22);
    CHECK(kstate_restore(&pair_ab, &r3, 3) == -EPROTO);  /* saved as version 2, which pair_ab cannot read */
    CHECK(kstate_restore(&d, &r3, 3) == 0);
    CHECK(r3.a == 11 && r3.b == 22);
}

/* A field table edited in place (same pointers everywhere, other offsets). */
static void field_table_edited(void)
{
    static struct kstate_field fields[] = { KSTATE_BASE_TYPE(a, struct pair, long), KSTATE_END_OF_LIST() };
    static const struct kstate_description d = {
        .name = "descriptions/edited", .id = 0x9003, .version_id = 1, .min_version_id = 1, .fields = fields,
    };
    struct pair p = { 33, 44 };
    CHECK(kstate_save_state(&d, &p, 1) == 0);
    fields[0].offset = offsetof(struct pair, b);
    fields[0].name = "b";
    CHECK(kstate_save_state(&d, &p, 2) == 0);
    next_generation();
    struct pair r = { 0, 0 };
    fields[0].offset = offsetof(struct pair, a);
    fields[0].name = "a";
    CHECK(kstate_restore(&d, &r, 2) == 0);
    CHECK(r.a == 44);                           /* instance 2 was saved from b */
}

/* --- item 9: two stack descriptions at one address ---------------------------------------------------------- */
struct wide { long v[8]; };
struct narrow { long v; };
struct guarded { long before; struct narrow n; long after; };

/* Each call builds its description on the stack: calls from the same place reuse one address. */
static int with_stack_description(int wide, int save, void *obj)
{
    struct kstate_field wide_fields[] = { KSTATE_BASE_TYPE(v, struct wide, long [8]), KSTATE_END_OF_LIST() };
    struct kstate_field narrow_fields[] = { KSTATE_BASE_TYPE(v, struct narrow, long), KSTATE_END_OF_LIST() };
    struct kstate_description d = {
        .name = wide ? "descriptions/wide" : "descriptions/narrow", .id = wide ? 0x9101 : 0x9102,
        .version_id = 1, .min_version_id = 1, .fields = wide ? wide_fields : narrow_fields,
    };
    return save ? kstate_save_state(&d, obj, 1) : kstate_restore(&d, obj, 1);
}

static void stack_descriptions_reuse_an_address(void)
{
    struct wide w = { { 1, 2, 3, 4, 5, 6, 7, 8 } };
    struct narrow n = { 77 };
    CHECK(with_stack_description(1, 1, &w) == 0);
    CHECK(with_stack_description(0, 1, &n) == 0);
    next_generation();
    struct wide rw = { { 0 } };
    struct guarded g = { 0x1111, { 0 }, 0x2222 };
    CHECK(with_stack_description(1, 0, &rw) == 0);
    CHECK(rw.v[0] == 1 && rw.v[7] == 8);
    CHECK(with_stack_description(0, 0, &g.n) == 0);  /* the narrow description: 8 bytes, not the wide one's 64 */
    CHECK(g.n.v == 77);
    CHECK(g.before == 0x1111 && g.after == 0x2222);
}

/* --- item 10: a custom restore gets the object itself ------------------------------------------------------- */
struct big { int i; int custom; char middle[8192]; int later; };
static int seen_i;
static int big_save(struct kstate_stream *s, void *o, const struct kstate_field *f)
{
    (void)f;
    return kstate_save_data(s, &((struct big *)o)->custom, sizeof(int));
}
static int big_restore(struct kstate_stream *s, void *o, const struct kstate_field *f)
{
    struct big *b = o;
    (void)f;
    seen_i = b->i;                              /* fields before it are already restored */
    b->later = 0x1a7e;                          /* a member the description does not cover: the program's own memory */
    return kstate_restore_data(s, &b->custom, sizeof(int));
}
static int refuse_load(void *o, int v) { (void)o; (void)v; return -ECANCELED; }
static const struct kstate_field big_fields[] = {
    KSTATE_BASE_TYPE(i, struct big, int), KSTATE_CUSTOM(custom, struct big, big_save, big_restore), KSTATE_END_OF_LIST()
};
static const struct kstate_description big_state = {
    .name = "descriptions/big", .id = 0x9201, .version_id = 1, .min_version_id = 1, .fields = big_fields,
};
static const struct kstate_description big_refusing = {
    .name = "descriptions/big", .id = 0x9201, .version_id = 1, .min_version_id = 1, .fields = big_fields,
    .post_load = refuse_load,
};

static void custom_restore_writes_the_object(void)
{
    struct big *b = calloc(1, sizeof *b);
    b->i = 5;
    b->custom = 6;
    CHECK(kstate_save_state(&big_state, b, 1) == 0);
    CHECK(kstate_save_state(&big_state, b, 2) == 0);
    next_generation();
    struct big *r = calloc(1, sizeof *r);
    r->custom = -3;
    CHECK(kstate_restore(&big_refusing, r, 2) == -ECANCELED);
    CHECK(r->i == 0 && r->custom == -3);        /* a failed restore leaves the described members as they were */
    CHECK(kstate_restore(&big_state, r, 1) == 0);
    CHECK(r->i == 5 && r->custom == 6);
    CHECK(seen_i == 5);
    CHECK(r->later == 0x1a7e);                  /* the write landed in the object, not past a buffer of the library */
    free(b);
    free(r);
}

/* Custom fields only in the object's own description (and its subsections), not in one nested with KS_STRUCT. */
struct small { int i; int custom; };
static int small_save(struct kstate_stream *s, void *o, const struct kstate_field *f)
{
    (void)f;
    return kstate_save_data(s, &((struct small *)o)->custom, sizeof(int));
}
static int small_restore(struct kstate_stream *s, void *o, const struct kstate_field *f)
{
    (void)f;
    return kstate_restore_data(s, &((struct small *)o)->custom, sizeof(int));
}
static const struct kstate_description small_state = {
    .name = "descriptions/small", .id = 0x9202, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(i, struct small, int), KSTATE_CUSTOM(custom, struct small, small_save, small_restore),
        KSTATE_END_OF_LIST()
    },
};
struct holder { struct small inner; };
static const struct kstate_description holder_state = {
    .name = "descriptions/holder", .id = 0x9301, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) { KSTATE_STRUCT(inner, struct holder, &small_state), KSTATE_END_OF_LIST() },
};
static void custom_field_in_a_nested_description_is_refused(void)
{
    struct holder h = { { 1, 2 } };
    CHECK(kstate_save_state(&holder_state, &h, 1) == -EINVAL);
    CHECK(strstr(kstate_last_error(), "custom field") != NULL);
    CHECK(kstate_register(&holder_state, &h, 1) == -EINVAL);
    CHECK(kstate_save_state(&small_state, &h.inner, 1) == 0);  /* the same description on its own is fine */
}

/* --- item 13: a non-NULL pointer member is filled in place with size x count bytes, no more ----------------- */
struct counted { long *v; };
static const struct kstate_description counted_state = {
    .name = "descriptions/counted", .id = 0x9401, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) { KSTATE_POINTER_ARRAY(v, struct counted, 3), KSTATE_END_OF_LIST() },
};
static void pointer_filled_in_place(void)
{
    long values[3] = { 10, 20, 30 };
    struct counted o = { values };
    CHECK(kstate_save_state(&counted_state, &o, 1) == 0);
    next_generation();
    long buffer[5] = { 0, 0, 0, -4, -5 };
    struct counted r = { buffer };
    CHECK(kstate_restore(&counted_state, &r, 1) == 0);
    CHECK(r.v == buffer);                       /* in place, not a new buffer */
    CHECK(buffer[0] == 10 && buffer[1] == 20 && buffer[2] == 30);
    CHECK(buffer[3] == -4 && buffer[4] == -5);  /* size x count bytes, nothing past them */
    struct counted n = { NULL };
    CHECK(kstate_restore(&counted_state, &n, 1) == 0);
    CHECK(n.v != NULL && n.v[2] == 30);         /* NULL: malloc'd, the program frees it */
    free(n.v);
}

static const struct scenario scenarios[] = {
    { "rewritten-in-place", rewritten_in_place },
    { "field-table-edited", field_table_edited },
    { "stack-descriptions-reuse-an-address", stack_descriptions_reuse_an_address },
    { "custom-restore-writes-the-object", custom_restore_writes_the_object },
    { "custom-field-in-a-nested-description", custom_field_in_a_nested_description_is_refused },
    { "pointer-filled-in-place", pointer_filled_in_place },
};

int main(int argc, char **argv)
{
    return run_scenarios(argc, argv, scenarios, sizeof scenarios / sizeof scenarios[0], 8 << 20);
}
