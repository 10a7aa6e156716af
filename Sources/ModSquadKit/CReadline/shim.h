// GNU readline + history. Its globals (rl_attempted_completion_function,
// rl_completion_append_character, rl_catch_signals ...) are reached through
// static inline setters, since Swift 6 cannot touch mutable C globals safely.
#ifndef MODSQUAD_CREADLINE_SHIM_H
#define MODSQUAD_CREADLINE_SHIM_H
#include <stdio.h>
#include <stdlib.h>
#include <readline/readline.h>
#include <readline/history.h>
typedef char **(*msq_completion_fn)(const char *, int, int);
static inline void msq_rl_set_completion(msq_completion_fn f) { rl_attempted_completion_function = (rl_completion_func_t *)f; }
static inline void msq_rl_set_append_character(int c) { rl_completion_append_character = c; }
static inline void msq_rl_set_catch_signals(int on) { rl_catch_signals = on; }
static inline void msq_rl_set_basic_word_break_characters(const char *s) { rl_basic_word_break_characters = (char *)s; }
static inline void msq_rl_attempted_completion_over(int on) { rl_attempted_completion_over = on; }
static inline char **msq_rl_completion_matches(const char *text, rl_compentry_func_t *f) { return rl_completion_matches(text, f); }
static inline const char *msq_rl_line_buffer(void) { return rl_line_buffer; }
static inline int msq_rl_point(void) { return rl_point; }
static inline int msq_rl_readline_version(void) { return rl_readline_version; }
static inline void msq_rl_set_catch_sigwinch(int on) { rl_catch_sigwinch = on; }
static inline void msq_rl_set_completer_word_break_characters(const char *s) { rl_completer_word_break_characters = s; }
static inline void msq_rl_set_completion_suppress_append(int on) { rl_completion_suppress_append = on; }
static inline void msq_rl_set_readline_name(const char *s) { rl_readline_name = s; }
/* Abandons the line being edited after Ctrl-C in callback mode (as CPython does). */
static inline void msq_rl_abandon_line(void) {
    rl_free_line_state();
    rl_callback_sigcleanup();
    rl_cleanup_after_signal();
    rl_callback_handler_remove();
}
#endif
