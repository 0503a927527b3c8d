/* failoverd: the agent. (placeholder until the daemon glue lands) */
#include <stdio.h>
int main(void)
{
    puts("failoverd");
    return 0;
}
