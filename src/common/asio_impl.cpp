// The one translation unit that compiles Asio and Beast (see CONVENTIONS.md: build speed).
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
