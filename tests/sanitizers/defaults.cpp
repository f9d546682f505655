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

#define GRAVITY_REPORT(tool) "log_path=" GRAVITY_SANITIZER_REPORTS "/" tool
#define GRAVITY_SUPPRESS(tool) "suppressions=" GRAVITY_SANITIZER_SUPPRESSIONS "/" tool ".supp"

extern "C" {

#if defined(GRAVITY_SANITIZE_ADDRESS)
const char* __asan_default_options() {
  return "halt_on_error=1:abort_on_error=0:detect_leaks=1:check_initialization_order=1:"
         "strict_init_order=1:detect_stack_use_after_return=1:" GRAVITY_REPORT("asan");
}
const char* __lsan_default_options() { return GRAVITY_SUPPRESS("lsan") ":print_suppressions=0"; }
const char* __ubsan_default_options() {
  return "halt_on_error=1:print_stacktrace=1:" GRAVITY_SUPPRESS("ubsan") ":" GRAVITY_REPORT(
      "ubsan");
}
#endif

#if defined(GRAVITY_SANITIZE_THREAD)
const char* __tsan_default_options() {
  return "halt_on_error=1:second_deadlock_stack=1:" GRAVITY_SUPPRESS("tsan") ":" GRAVITY_REPORT(
      "tsan");
}
#endif

}  // extern "C"
