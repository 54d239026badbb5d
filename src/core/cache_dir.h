// Where fovea keeps what it downloads, generates or builds once (models, the zoo, footage, engine caches).
#pragma once

#include <filesystem>

namespace fovea {

// $FOVEA_CACHE_DIR, else $XDG_CACHE_HOME/fovea, else ~/.cache/fovea (empty variables count as unset).
std::filesystem::path cache_dir();

}  // namespace fovea
