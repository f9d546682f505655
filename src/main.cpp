#include "cli/cli.h"

int main(int argc, char** argv) { return gravity::cli::Main(argc, argv); }
