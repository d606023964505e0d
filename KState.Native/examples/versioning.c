/* Versioning: version 1 of a program saves a counter; version 2 added a field and restores version 1's record.
 *   versioning v1 REGION   save with the version 1 description
 *   versioning v2 REGION   restore with version 2 (reads versions 1..2): the new field keeps its value
 *   versioning v0 REGION   restore with a description that only reads version 2 or later: refused (-EPROTO)
 */
#include <stdio.h>
#include <string.h>
#include <kstate.h>

struct counter { long hits; long misses; /* since version 2 */ };

static const struct kstate_description counter_v1 = {
    .name = "acme-cache/counter", .id = 0xacce55, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(hits, struct counter, long),
        KSTATE_END_OF_LIST()
    },
};

static const struct kstate_description counter_v2 = {
    .name = "acme-cache/counter", .id = 0xacce55, .version_id = 2, .min_version_id = 1,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(hits, struct counter, long),
        KSTATE_BASE_TYPE_V(misses, struct counter, long, 2),
        KSTATE_END_OF_LIST()
    },
};

static const struct kstate_description counter_v3_only = {
    .name = "acme-cache/counter", .id = 0xacce55, .version_id = 3, .min_version_id = 2,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(hits, struct counter, long),
        KSTATE_BASE_TYPE_V(misses, struct counter, long, 2),
        KSTATE_END_OF_LIST()
    },
};

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    struct counter c = { .hits = 0, .misses = -1 };
    int err = kho_init(argv[2], strcmp(argv[1], "v1") == 0 ? 8 << 20 : 0);
    if (err) {
        fprintf(stderr, "kho_init: %s\n", kstate_strerror(err));
        return 1;
    }
    if (strcmp(argv[1], "v1") == 0) {
        c.hits = 1234;
        if ((err = kstate_save_state(&counter_v1, &c, 0)) || (err = kho_finalize()))
            goto out;
        printf("v1 saved hits=%ld\n", c.hits);
    } else if (strcmp(argv[1], "v2") == 0) {
        if ((err = kstate_restore(&counter_v2, &c, 0)))
            goto out;
        printf("v2 restored hits=%ld misses=%ld (kept: the v1 record has no misses)\n", c.hits, c.misses);
        if (c.hits != 1234 || c.misses != -1)
            return 1;
    } else {
        err = kstate_restore(&counter_v3_only, &c, 0);
        printf("v3 restore: %s\n", kstate_strerror(err));
        if (err != -71 || c.hits != 0)
            return 1;
        err = 0;
    }
out:
    if (err)
        fprintf(stderr, "%s: %s (%s)\n", argv[1], kstate_strerror(err), kstate_last_error());
    return kho_exit() || err ? 1 : 0;
}
