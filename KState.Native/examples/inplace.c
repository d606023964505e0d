/* Memory used in place: a service keeps its state in preserved memory from the start and hands the same memory on.
 *   inplace save REGION      generation 1: a run of 5 pages, a kho_alloc_preserve'd manifest with a KHOSER list,
 *                            and a kho_vmalloc table larger than any free contiguous run (the region is fragmented)
 *   inplace next REGION      generation 2, 3...: restore everything (a wrong length and a second restore are
 *                            refused), check the bytes and the phys, write new bytes, preserve the same memory again
 *   inplace damaged REGION   after "save": damaged chunk lists are refused cleanly, then the intact one restores
 * Every generation prints where its memory is: the same phys every time.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kstate.h>

#define RUN_PAGES 5
#define TABLE_PAGES 1100                /* three chunk pages of order-0 frames */
#define NODES 4

struct node {
    uint64_t value;
    DECLARE_KHOSER_PTR(next, struct node *);
};

struct manifest {                       /* lives in kho_alloc_preserve'd memory, found through a subtree */
    uint64_t generation;
    phys_addr_t run;                    /* kho_preserve_pages: RUN_PAGES pages */
    phys_addr_t dropped;                /* kho_alloc_preserve'd, for the next generation's kho_restore_free */
    struct kho_vmalloc table;           /* kho_preserve_vmalloc */
    DECLARE_KHOSER_PTR(list, struct node *);
    struct node nodes[NODES - 1];       /* the list's last node lives in the table */
};

static int fail(const char *what, int err)
{
    fprintf(stderr, "inplace: %s: %s (%s)\n", what, kstate_strerror(err), kstate_last_error());
    return 1;
}

static void fill(unsigned char *p, size_t n, int seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 7 + (size_t)seed * 13 + (i >> 12));
}

static int holds(const unsigned char *p, size_t n, int seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 7 + (size_t)seed * 13 + (i >> 12)))
            return 0;
    return 1;
}

static int by_phys(const void *a, const void *b)
{
    phys_addr_t x = kho_folio_phys(*(struct folio *const *)a), y = kho_folio_phys(*(struct folio *const *)b);
    return x < y ? -1 : x > y;
}

/* Leaves no two free pages adjacent: every page allocated, every other one freed. */
static struct folio **fragment(size_t *kept)
{
    size_t n = 0, cap = 1024;
    struct folio **all = malloc(cap * sizeof *all), *f;
    while (all && (f = kho_folio_alloc(0))) {
        if (n == cap && !(all = realloc(all, (cap *= 2) * sizeof *all)))
            return NULL;
        all[n++] = f;
    }
    if (!all)
        return NULL;
    qsort(all, n, sizeof *all, by_phys);
    *kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 2 == 0)
            kho_folio_put(all[i]);
        else
            all[(*kept)++] = all[i];
    }
    return all;
}

/* Links the manifest's nodes and the table's first bytes as a KHOSER list, values 100.. */
static void link_list(struct manifest *m, struct node *last, int generation)
{
    for (int i = 0; i < NODES - 1; i++) {
        m->nodes[i].value = 100 * (uint64_t)generation + (uint64_t)i;
        if (i + 1 < NODES - 1)
            KHOSER_STORE_PTR(m->nodes[i].next, &m->nodes[i + 1]);
        else
            KHOSER_STORE_PTR(m->nodes[i].next, last);
    }
    last->value = 100 * (uint64_t)generation + NODES - 1;
    KHOSER_STORE_PTR(last->next, (struct node *)NULL);
    KHOSER_STORE_PTR(m->list, &m->nodes[0]);
}

/* Writes this generation's bytes, preserves the same memory again, finalizes. */
static int hand_over(struct manifest *m, unsigned char *run, unsigned char *table, int generation)
{
    int err;
    void *scratch;

    m->generation = (uint64_t)generation;
    m->run = kho_virt_to_phys(run);
    fill(run, RUN_PAGES * 4096, generation);
    fill(table + 4096, (TABLE_PAGES - 1) * (size_t)4096, generation);
    link_list(m, (struct node *)table, generation);
    if ((err = kho_preserve_pages(run, RUN_PAGES)))
        return fail("kho_preserve_pages", err);
    if ((err = kho_preserve_vmalloc(table, &m->table)))
        return fail("kho_preserve_vmalloc", err);
    void *dropped = kho_alloc_preserve(1);
    if (!dropped)
        return fail("kho_alloc_preserve", -errno);
    m->dropped = kho_virt_to_phys(dropped);
    /* Withdrawn again before the handover: each unpreserve undoes its preserve exactly. */
    if (!(scratch = kho_alloc_preserve(100)))
        return fail("kho_alloc_preserve", -errno);
    kho_unpreserve_free(scratch);
    struct kho_vmalloc withdrawn;
    void *area = kho_vmalloc(3 * 4096);
    if (!area || (err = kho_preserve_vmalloc(area, &withdrawn)))
        return fail("kho_vmalloc + kho_preserve_vmalloc", area ? err : -errno);
    kho_unpreserve_vmalloc(&withdrawn);
    kho_vfree(area);
    phys_addr_t at = kho_virt_to_phys(m); /* the next generation finds the manifest here */
    if ((err = kho_add_subtree("inplace-example", &at, sizeof at)))
        return fail("kho_add_subtree", err);
    if (errno = 0, kho_restore_vmalloc(&withdrawn) != NULL || errno != ENOENT)
        return fail("an unpreserved area restored", -EINVAL);
    if ((err = kho_finalize()))
        return fail("kho_finalize", err);
    printf("gen %d: manifest 0x%llx run 0x%llx table 0x%llx..0x%llx\n", generation,
           (unsigned long long)kho_virt_to_phys(m), (unsigned long long)kho_virt_to_phys(run),
           (unsigned long long)kho_virt_to_phys(table), (unsigned long long)kho_virt_to_phys(table + TABLE_PAGES * (size_t)4096 - 1));
    return 0;
}

static int save(void)
{
    size_t kept;
    struct folio *f = kho_folio_alloc(3);
    struct manifest *m = kho_alloc_preserve(sizeof *m);
    if (!f || !m)
        return fail("kho_folio_alloc / kho_alloc_preserve", -ENOMEM);
    unsigned char *run = (unsigned char *)kho_folio_address(f) + 4096; /* 5 pages: not a power of two */

    struct folio **held = fragment(&kept);
    if (!held)
        return fail("fragment", -ENOMEM);
    if (kho_folio_alloc(1) != NULL)
        return fail("the region is not fragmented", -EINVAL);
    unsigned char *table = kho_vmalloc(TABLE_PAGES * (size_t)4096); /* larger than any free contiguous run */
    if (!table)
        return fail("kho_vmalloc", -errno);
    for (size_t i = 0; i < kept; i++)
        kho_folio_put(held[i]);
    free(held);
    if (kho_virt_to_phys(table + 4096) == kho_virt_to_phys(table) + 4096)
        return fail("the table's frames are contiguous", -EINVAL);
    return hand_over(m, run, table, 1);
}

/* Restores what generation - 1 handed over; checks the bytes, the refusals and the list. */
static int next(void)
{
    const void *blob;
    size_t size;
    int err;

    if (!is_kho_boot())
        return fail("is_kho_boot", -ENOENT);
    if ((err = kho_retrieve_subtree("inplace-example", &blob, &size)) || size != sizeof(phys_addr_t))
        return fail("kho_retrieve_subtree", err ? err : -EBADMSG);
    phys_addr_t at;
    memcpy(&at, blob, sizeof at);
    struct folio *mf = kho_restore_folio(at);
    if (!mf)
        return fail("kho_restore_folio (manifest)", -errno);
    struct manifest *m = kho_folio_address(mf);
    int generation = (int)m->generation + 1;

    if (kho_restore_pages(m->run, RUN_PAGES - 1) || kho_restore_pages(m->run, RUN_PAGES + 1) ||
        kho_restore_pages(m->run + 4096, RUN_PAGES - 1))
        return fail("a run restored with the wrong length", -EINVAL);
    unsigned char *run = kho_restore_pages(m->run, RUN_PAGES);
    if (!run)
        return fail("kho_restore_pages", -errno);
    if (kho_restore_pages(m->run, RUN_PAGES) != NULL)
        return fail("a run restored twice", -EINVAL);
    if (!holds(run, RUN_PAGES * 4096, generation - 1))
        return fail("the run's bytes differ", -EBADMSG);

    unsigned char *table = kho_restore_vmalloc(&m->table);
    if (!table)
        return fail("kho_restore_vmalloc", -errno);
    if (errno = 0, kho_restore_vmalloc(&m->table) != NULL || errno != ENOENT)
        return fail("a table restored twice", -EINVAL);
    if (!holds(table + 4096, (TABLE_PAGES - 1) * (size_t)4096, generation - 1))
        return fail("the table's bytes differ", -EBADMSG);

    kho_restore_free(kho_phys_to_virt(m->dropped));
    if (errno = 0, kho_restore_free(kho_phys_to_virt(m->dropped)), errno != ENOENT)
        return fail("restored and freed twice", -EINVAL);

    uint64_t expect = 100 * (uint64_t)(generation - 1);
    int n = 0;
    for (struct node *p = KHOSER_LOAD_PTR(m->list); p; p = KHOSER_LOAD_PTR(p->next), n++)
        if (p->value != expect + (uint64_t)n)
            return fail("the list's values differ", -EBADMSG);
    if (n != NODES)
        return fail("the list's length differs", -EBADMSG);
    printf("gen %d: restored run, table and a list of %d nodes\n", generation, n);

    if ((err = kho_preserve_folio(mf)))
        return fail("kho_preserve_folio (manifest)", err);
    return hand_over(m, run, table, generation);
}

/* Damages one field of a chunk page, expects kho_restore_vmalloc to refuse with EBADMSG, repairs it. */
static int refused(const char *what, const struct kho_vmalloc *t, void *field, uint64_t value, size_t bytes)
{
    unsigned char saved[8];
    memcpy(saved, field, bytes);
    memcpy(field, &value, bytes);           /* little-endian, as the format */
    errno = 0;
    void *p = kho_restore_vmalloc(t);
    int e = errno;
    memcpy(field, saved, bytes);
    if (p != NULL || e != EBADMSG)
        return fail(what, p ? -EINVAL : -e);
    printf("refused %s: %s\n", what, kstate_last_error());
    return 0;
}

static int damaged(void)
{
    const void *blob;
    size_t size;
    int err;
    if ((err = kho_retrieve_subtree("inplace-example", &blob, &size)))
        return fail("kho_retrieve_subtree", err);
    phys_addr_t at;
    memcpy(&at, blob, sizeof at);
    const struct manifest *m = kho_phys_to_virt(at);
    struct kho_vmalloc t = m->table;
    unsigned char *c0 = kho_phys_to_virt(t.first);
    uint64_t next, frame;
    memcpy(&next, c0 + 8, 8);
    memcpy(&frame, c0 + 16, 8);
    unsigned char *c1 = kho_phys_to_virt(next);
    struct folio *stray = kho_folio_alloc(0);
    if (!c1 || !stray)
        return fail("no second chunk or no free page", -EINVAL);

    if (refused("bad-next", &t, c0 + 8, t.first + 1, 8) ||
        refused("loop", &t, c1 + 8, t.first, 8) ||
        refused("count", &t, c0 + 4, 3, 4) ||
        refused("frame-not-preserved", &t, c0 + 16, kho_folio_phys(stray), 8) ||
        refused("frame-twice", &t, c0 + 24, frame, 8))
        return 1;
    struct kho_vmalloc bad = t;
    bad.order = 11;
    if (errno = 0, kho_restore_vmalloc(&bad) != NULL || errno != EBADMSG)
        return fail("order too big", -EINVAL);
    printf("refused order-too-big: %s\n", kstate_last_error());
    unsigned char *table = kho_restore_vmalloc(&t);
    if (!table || !holds(table + 4096, (TABLE_PAGES - 1) * (size_t)4096, 1))
        return fail("the intact table after the refusals", -errno);
    printf("restored %d pages after the refusals\n", TABLE_PAGES);
    return 0;
}

int main(int argc, char **argv)
{
    int err, rc;
    if (argc != 3 || (strcmp(argv[1], "save") && strcmp(argv[1], "next") && strcmp(argv[1], "damaged"))) {
        fprintf(stderr, "usage: inplace save|next|damaged REGION\n");
        return 2;
    }
    if ((err = kho_init(argv[2], 16 << 20)))
        return fail("kho_init", err);
    rc = !strcmp(argv[1], "save") ? save() : !strcmp(argv[1], "next") ? next() : damaged();
    if ((err = kho_exit()))
        return fail("kho_exit", err);
    return rc;
}
