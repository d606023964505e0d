/* The KHOSER macros and struct kho_vmalloc compile as C++ (-Wextra -pedantic) and work: a pointer stored as phys
 * and loaded back typed, a vmalloc area preserved and unpreserved.  Usage: khoser REGION; exits 0 when all is right. */
#include <kstate.h>
#include <cstdio>

struct node {
    long value;
    DECLARE_KHOSER_PTR(next, struct node *);
};

int main(int argc, char **argv)
{
    if (argc != 2 || kho_init(argv[1], 4 << 20) != 0)
        return 2;
    int bad = 0;
    node *nodes = static_cast<node *>(kho_alloc_preserve(2 * sizeof(node)));
    bad |= nodes == nullptr;
    if (nodes) {
        nodes[0].value = 1;
        nodes[1].value = 2;
        KHOSER_STORE_PTR(nodes[0].next, &nodes[1]);
        KHOSER_STORE_PTR(nodes[1].next, static_cast<node *>(nullptr));
        bad |= nodes[0].next.phys != kho_virt_to_phys(&nodes[1]);
        node *second = KHOSER_LOAD_PTR(nodes[0].next);
        bad |= second != &nodes[1] || second->value != 2;
        bad |= KHOSER_LOAD_PTR(nodes[1].next) != nullptr;
        kho_unpreserve_free(nodes);
    }
    static_assert(sizeof(struct kho_vmalloc) == 16, "struct kho_vmalloc is 16 bytes");
    struct kho_vmalloc t = {}; /* "struct": the function kho_vmalloc hides the bare name in C++ */
    void *area = kho_vmalloc(3 * 4096);
    bad |= area == nullptr || kho_preserve_vmalloc(area, &t) != 0 || t.total_pages != 3 || t.flags != KHO_VMALLOC_FLAG_VMALLOC;
    kho_unpreserve_vmalloc(&t);
    kho_vfree(area);
    bad |= kho_exit() != 0;
    std::printf("%s\n", bad ? "khoser: wrong" : "khoser: ok");
    return bad;
}
