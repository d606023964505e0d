/* Prints kstate_version(), which needs no boot. */
#include <stdio.h>
#include <kstate.h>

int main(void)
{
    const char *v = kstate_version();
    if (!v)
        return 1;
    printf("%s\n", v);
    return 0;
}
