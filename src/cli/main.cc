// The popqueue command. Subcommands are being built (see issue 2).
#include <cstdio>

int main() {
  std::fprintf(stderr, "popqueue: not built yet\n");
  return 2;
}
