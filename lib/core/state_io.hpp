#pragma once
// Internal: the byte format of visited state (optimizers, schedules). A magic of 8 bytes, the
// owner's name, a rate, one record per visited field (kind, name, value), and a CRC-32 of
// everything before it; little-endian.

#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "descent/state.hpp"

namespace descent::state_io {

std::vector<char> write(std::string_view magic, std::string_view owner, double rate,
                        const std::function<void(StateVisitor&)>& visit);

// Parses and checks everything first (magic, checksum, owner, every field's name, kind and
// size against `visit`), and only then assigns, so a rejected state changes nothing. Returns
// the saved rate. `what` names the state in messages ("optimizer state"). A state saved under
// `also_owner` (when not empty) is accepted as well: an older, less specific owner.
double read(std::span<const char> bytes, std::string_view magic, std::string_view owner,
            std::string_view what, const std::function<void(StateVisitor&)>& visit,
            std::string_view also_owner = {});

}  // namespace descent::state_io
