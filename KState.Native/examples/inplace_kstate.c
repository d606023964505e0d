/* A table whose entries live in preserved memory, handed over in place from process to process (docs/C-API.md,
 * "In-place fields").
 *   inplace_kstate gen N REGION     generation N: N = 1 fills the entries; later ones restore them (in place), check
 *                                   generation N-1's values, rewrite them and hand them on; prints where they are
 *   inplace_kstate vgen N REGION    the same with the entries in a kho_vmalloc area
 *   inplace_kstate v2 REGION        restores with entries that gained a field: converted into new memory
 *   inplace_kstate twice REGION     restores, then restores the same record again: -EBADMSG
 *   inplace_kstate old REGION       restores with entries whose min_version_id is 2: -EPROTO
 *   inplace_kstate damage REGION    saves a checksummed and a trusted table, then damages both tables' entries
 *   inplace_kstate damaged REGION   the checksummed one is refused (-EBADMSG), the trusted one restores as it is
 *   inplace_kstate invalid REGION   an element description with a pointer is refused (-EINVAL)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kstate.h>

#define ENTRIES 1000

struct entry { uint64_t key; uint32_t value; uint32_t flags; };
struct entry_v2 { uint64_t key; uint32_t value; uint32_t flags; uint64_t added; };
struct table { struct entry *items; uint32_t count; uint32_t generation; struct entry *head; };
struct table_v2 { struct entry_v2 *items; uint32_t count; uint32_t generation; struct entry_v2 *head; };

static const struct kstate_description entry_state = {
    .name = "acme-c/inplace-entry", .id = 0x4143454e54525901ULL, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(key, struct entry, uint64_t),
        KSTATE_BASE_TYPE(value, struct entry, uint32_t),
        KSTATE_BASE_TYPE(flags, struct entry, uint32_t),
        KSTATE_END_OF_LIST()
    },
};

static const struct kstate_description table_state = {
    .name = "acme-c/inplace-table", .id = 0x41435441424c4501ULL, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(generation, struct table, uint32_t),
        KSTATE_PRESERVED_ARRAY(items, struct table, &entry_state, count),
        KSTATE_PRESERVED_STRUCT(head, struct table, &entry_state),
        KSTATE_END_OF_LIST()
    },
};

/* The same table, its entries trusted: only the metadata is checked at restore. */
static const struct kstate_description trusted_state = {
    .name = "acme-c/inplace-trusted", .id = 0x4143545255535401ULL, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(generation, struct table, uint32_t),
        KSTATE_PRESERVED_ARRAY_TRUSTED(items, struct table, &entry_state, count),
        KSTATE_PRESERVED_STRUCT_TRUSTED(head, struct table, &entry_state),
        KSTATE_END_OF_LIST()
    },
};

static const struct kstate_description entry_v2_state = {
    .name = "acme-c/inplace-entry", .id = 0x4143454e54525901ULL, .version_id = 2, .min_version_id = 1,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(key, struct entry_v2, uint64_t),
        KSTATE_BASE_TYPE(value, struct entry_v2, uint32_t),
        KSTATE_BASE_TYPE(flags, struct entry_v2, uint32_t),
        KSTATE_BASE_TYPE_V(added, struct entry_v2, uint64_t, 2),
        KSTATE_END_OF_LIST()
    },
};

static const struct kstate_description table_v2_state = {
    .name = "acme-c/inplace-table", .id = 0x41435441424c4501ULL, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(generation, struct table_v2, uint32_t),
        KSTATE_PRESERVED_ARRAY(items, struct table_v2, &entry_v2_state, count),
        KSTATE_PRESERVED_STRUCT(head, struct table_v2, &entry_v2_state),
        KSTATE_END_OF_LIST()
    },
};

/* Refused: a pointer's bytes mean nothing in the next process, so it cannot be part of an element used in place. */
struct with_pointer { uint64_t *p; };
static const struct kstate_description pointer_entry = {
    .name = "acme-c/inplace-bad-entry", .id = 0x4143424144000001ULL, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) { KSTATE_POINTER(p, struct with_pointer), KSTATE_END_OF_LIST() },
};
struct holder { struct with_pointer *items; uint16_t count; };
static const struct kstate_description holder_state = {
    .name = "acme-c/inplace-bad", .id = 0x4143424144000002ULL, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) { KSTATE_PRESERVED_ARRAY(items, struct holder, &pointer_entry, count), KSTATE_END_OF_LIST() },
};

static int fail(const char *what, int err)
{
    fprintf(stderr, "inplace_kstate: %s: %s (%s)\n", what, kstate_strerror(err), kstate_last_error());
    return 1;
}

static struct entry expected(int i, int g)
{
    struct entry e = { (uint64_t)i * 0x9e3779b9u + 1, (uint32_t)(i + 1000 * g), (uint32_t)g };
    return e;
}

static void *preserved_memory(size_t bytes)
{
    unsigned order = 0;
    while (((size_t)4096 << order) < bytes)
        order++;
    struct folio *f = kho_folio_alloc(order);
    return f ? kho_folio_address(f) : NULL;
}

static bool use_vmalloc;

static int fill(struct table *t, int g)
{
    if (!t->items) {
        t->items = use_vmalloc ? kho_vmalloc(ENTRIES * sizeof(struct entry)) : preserved_memory(ENTRIES * sizeof(struct entry));
        t->head = preserved_memory(sizeof(struct entry));
        t->count = ENTRIES;
        if (!t->items || !t->head)
            return fail("kho_folio_alloc", -ENOMEM);
    }
    for (int i = 0; i < ENTRIES; i++)
        t->items[i] = expected(i, g);
    *t->head = expected(-1, g);
    t->generation = (uint32_t)g;
    return 0;
}

static int check(const struct table *t, int g)
{
    if (t->count != ENTRIES || t->generation != (uint32_t)g)
        return fail("restored count or generation", -EBADMSG);
    for (int i = 0; i < ENTRIES; i++)
        if (t->items[i].key != expected(i, g).key || t->items[i].value != expected(i, g).value)
            return fail("restored entry", -EBADMSG);
    return t->head->value == expected(-1, g).value ? 0 : fail("restored head", -EBADMSG);
}

static int generation(int g)
{
    static struct table t;
    int err;
    if (g > 1) {
        if ((err = kstate_restore(&table_state, &t, 1)))
            return fail("kstate_restore", err);
        if ((err = check(&t, g - 1)))
            return err;
    }
    if ((err = fill(&t, g)))
        return err;
    if ((err = kstate_register(&table_state, &t, 1)))
        return fail("kstate_register", err);
    if ((err = kho_finalize()))
        return fail("kho_finalize", err);
    printf("items=%#llx head=%#llx\n", (unsigned long long)kho_virt_to_phys(t.items), (unsigned long long)kho_virt_to_phys(t.head));
    return 0;
}

static int v2(void)
{
    static struct table_v2 t;
    int err = kstate_restore(&table_v2_state, &t, 1);
    if (err)
        return fail("kstate_restore v2", err);
    for (int i = 0; i < ENTRIES; i++)
        if (t.items[i].key != expected(i, 1).key || t.items[i].value != expected(i, 1).value || t.items[i].added != 0)
            return fail("converted entry", -EBADMSG);
    printf("converted: items=%#llx added=%llu\n", (unsigned long long)kho_virt_to_phys(t.items), (unsigned long long)t.items[0].added);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: inplace_kstate gen N|vgen N|v2|twice|old|damage|damaged|invalid REGION\n");
        return 2;
    }
    const char *mode = argv[1], *region = argv[argc - 1];
    int err = kho_init(region, 64 << 20);
    if (err)
        return fail("kho_init", err);
    if ((strcmp(mode, "gen") == 0 || strcmp(mode, "vgen") == 0) && argc == 4) {
        use_vmalloc = mode[0] == 'v';
        err = generation(atoi(argv[2]));
    }
    else if (strcmp(mode, "v2") == 0)
        err = v2();
    else if (strcmp(mode, "twice") == 0) {
        static struct table a, b;
        if ((err = kstate_restore(&table_state, &a, 1)))
            return fail("kstate_restore", err);
        err = kstate_restore(&table_state, &b, 1);
        printf("second restore: %s, untouched: %s\n", kstate_strerror(err), b.items == NULL ? "yes" : "no");
        err = err == -EBADMSG ? 0 : 1;
    } else if (strcmp(mode, "old") == 0) {
        static struct table_v2 t;
        struct kstate_description only_v2 = entry_v2_state, table = table_v2_state;
        struct kstate_field fields[4];
        only_v2.min_version_id = 2;
        memcpy(fields, table_v2_state.fields, sizeof(fields));
        fields[1].ksd = &only_v2;
        fields[2].ksd = &only_v2;
        table.fields = fields;
        err = kstate_restore(&table, &t, 1);
        printf("old entries: %s\n", kstate_strerror(err));
        err = err == -EPROTO ? 0 : 1;
    } else if (strcmp(mode, "damage") == 0) {
        static struct table a, b;
        if ((err = fill(&a, 1)) || (err = fill(&b, 1)))
            return err;
        if ((err = kstate_register(&table_state, &a, 1)) || (err = kstate_register(&trusted_state, &b, 1)))
            return fail("kstate_register", err);
        if ((err = kho_finalize()))
            return fail("kho_finalize", err);
        a.items[7].value ^= 1; /* after the save: what a stray write would do */
        b.items[7].value ^= 1;
    } else if (strcmp(mode, "damaged") == 0) {
        static struct table a, b;
        int summed = kstate_restore(&table_state, &a, 1), trusted = kstate_restore(&trusted_state, &b, 1);
        printf("checksummed: %s; trusted: %s, entry 7 %s\n", kstate_strerror(summed), kstate_strerror(trusted),
               trusted == 0 && b.items[7].value == (expected(7, 1).value ^ 1) ? "as damaged" : "?");
        err = summed == -EBADMSG && trusted == 0 ? 0 : 1;
    } else if (strcmp(mode, "invalid") == 0) {
        static struct holder h;
        err = kstate_save_state(&holder_state, &h, 1);
        printf("pointer in an element: %s: %s\n", kstate_strerror(err), kstate_last_error());
        err = err == -EINVAL ? 0 : 1;
    } else {
        fprintf(stderr, "inplace_kstate: unknown mode %s\n", mode);
        err = 2;
    }
    kho_exit();
    return err;
}
