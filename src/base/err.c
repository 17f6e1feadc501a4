#include "base/err.h"

static const char *const err_text[] = {
	"ok",
#define ERR_TEXT(name, text) text,
	ERR_LIST(ERR_TEXT)
#undef ERR_TEXT
};

const char *
err_str(int code)
{
	unsigned idx = code < 0 ? (unsigned)-code : (unsigned)code;

	if (idx >= sizeof err_text / sizeof err_text[0])
		return "unknown error";
	return err_text[idx];
}
