// Minimal stand-in for ankerl::unordered_dense (not packaged by Debian):
// maps the subset mediasoup uses (map, set, hash) onto the C++20 standard
// library containers. Iteration order / performance differ; semantics used
// by mediasoup (find/emplace/try_emplace/erase/contains/operator[]) match.
#ifndef MS_ANKERL_UNORDERED_DENSE_STD_SHIM_H
#define MS_ANKERL_UNORDERED_DENSE_STD_SHIM_H
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace ankerl::unordered_dense
{
	template<class T, class Enable = void>
	struct hash : std::hash<T>
	{
	};

	template<
	  class Key,
	  class T,
	  class Hash      = std::hash<Key>,
	  class KeyEqual  = std::equal_to<Key>,
	  class Allocator = std::allocator<std::pair<const Key, T>>>
	using map = std::unordered_map<Key, T, Hash, KeyEqual, Allocator>;

	template<
	  class Key,
	  class Hash      = std::hash<Key>,
	  class KeyEqual  = std::equal_to<Key>,
	  class Allocator = std::allocator<Key>>
	using set = std::unordered_set<Key, Hash, KeyEqual, Allocator>;
} // namespace ankerl::unordered_dense
#endif
