// Linked into every program of a sanitizer build (-DGRAVITY_SANITIZE=address|thread):
// gravity, the test binaries and gravity-testapp. The options hold for every process,
// including instances, which Gravity starts with only the environment it sets. Options
// in ASAN_OPTIONS, UBSAN_OPTIONS, LSAN_OPTIONS or TSAN_OPTIONS are applied after these.
//
// Every report stops the process (halt_on_error) and is written to
// GRAVITY_SANITIZER_REPORTS/<tool>.<pid> — scripts/sanitize.sh fails when that directory
// holds anything after a run. The suppression files beside this one hold only findings
// proven to be inside a Debian library, each with its proof.

#ifndef GRAVITY_SANITIZER_REPORTS
#error "GRAVITY_SANITIZER_REPORTS must name the directory for sanitizer reports"
#endif
#ifndef GRAVITY_SANITIZER_SUPPRESSIONS
#error "GRAVITY_SANITIZER_SUPPRESSIONS must name tests/sanitizers"
#endif

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

// The options are built at run time: a sandboxed instance sees neither the suppressions
// (the source tree) nor a writable report directory, and a sanitizer that cannot open a
// file it was told to use dies at start. There the report goes to stderr (the instance's
// log) and the suppressions are left out. Called before the runtime is up: no allocation,
// and the check is a raw system call (the sanitizers intercept access()).
bool Can(const char* path, int mode) {
  return ::syscall(SYS_faccessat, AT_FDCWD, path, mode, 0) == 0;
}

struct Options {
  char text[2048];
  unsigned long n = 0;
  void Add(const char* s) {
    while (*s && n + 1 < sizeof text) text[n++] = *s++;
    text[n] = 0;
  }
};

const char* Build(Options& o, const char* fixed, const char* tool, bool suppress, bool report) {
  if (o.n) return o.text;
  o.Add(fixed);
  if (suppress && Can(GRAVITY_SANITIZER_SUPPRESSIONS, R_OK)) {
    o.Add(":suppressions=" GRAVITY_SANITIZER_SUPPRESSIONS "/");
    o.Add(tool);
    o.Add(".supp");
  }
  if (report && Can(GRAVITY_SANITIZER_REPORTS, W_OK)) {
    o.Add(":log_path=" GRAVITY_SANITIZER_REPORTS "/");
    o.Add(tool);
  }
  return o.text;
}

// Namespace-scope (constant-initialized): a function-local static would need a guard,
// which the runtime intercepts before it is up.
Options g_asan, g_lsan, g_ubsan, g_tsan;

}  // namespace

extern "C" {

#if defined(GRAVITY_SANITIZE_ADDRESS)
const char* __asan_default_options() {
  return Build(g_asan,
               "halt_on_error=1:abort_on_error=0:detect_leaks=1:check_initialization_order=1:"
               "strict_init_order=1:detect_stack_use_after_return=1",
               "asan", false, true);
}
const char* __lsan_default_options() {
  return Build(g_lsan, "print_suppressions=0", "lsan", true, false);
}
const char* __ubsan_default_options() {
  return Build(g_ubsan, "halt_on_error=1:print_stacktrace=1", "ubsan", true, true);
}
#endif

#if defined(GRAVITY_SANITIZE_THREAD)
const char* __tsan_default_options() {
  return Build(g_tsan, "halt_on_error=1:second_deadlock_stack=1", "tsan", true, true);
}
#endif

}  // extern "C"
