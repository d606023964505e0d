/* A struct laid out by C, for the C# side to describe (the other direction of the ABI). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct c_obj {
    char tag;
    double ratio;
    uint16_t ports[3];
    int64_t *counter;
};

size_t c_obj_size(void) { return sizeof(struct c_obj); }
size_t c_obj_offset(int field)
{
    switch (field) {
    case 0: return offsetof(struct c_obj, tag);
    case 1: return offsetof(struct c_obj, ratio);
    case 2: return offsetof(struct c_obj, ports);
    default: return offsetof(struct c_obj, counter);
    }
}

struct c_obj *c_obj_new(int seed)
{
    struct c_obj *o = calloc(1, sizeof *o);
    o->tag = (char)('a' + seed);
    o->ratio = seed / 4.0;
    for (int i = 0; i < 3; i++)
        o->ports[i] = (uint16_t)(8000 + seed + i);
    if (seed) {
        o->counter = malloc(sizeof *o->counter);
        *o->counter = -seed;
    }
    return o;
}

int c_obj_check(const struct c_obj *o, int seed)
{
    return o->tag == (char)('a' + seed) && o->ratio == seed / 4.0 && o->ports[0] == 8000 + seed
        && o->ports[2] == 8002 + seed && o->counter && *o->counter == -seed;
}
