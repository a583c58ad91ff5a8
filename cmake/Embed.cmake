# popqueue_embed(<target> <group> FILES f1 f2 ...)
#
# Embeds text files (SQL, Lua, dashboard assets) into <target> at build time.
# Generates ${CMAKE_CURRENT_BINARY_DIR}/embedded/<group>.h/.cc declaring, in
# namespace popqueue::embedded:
#   std::string_view <group>(std::string_view file_name);  // "" if unknown
#   const std::vector<std::string_view>& <group>_names();  // sorted
# Generated files are never committed.
set(_POPQUEUE_EMBED_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/EmbedScript.cmake")

function(popqueue_embed target group)
  cmake_parse_arguments(ARG "" "" "FILES" ${ARGN})
  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/embedded")
  set(abs_files "")
  foreach(f IN LISTS ARG_FILES)
    get_filename_component(abs "${f}" ABSOLUTE)
    list(APPEND abs_files "${abs}")
  endforeach()
  string(REPLACE ";" "|" joined "${abs_files}")
  add_custom_command(
    OUTPUT "${out_dir}/${group}.h" "${out_dir}/${group}.cc"
    COMMAND ${CMAKE_COMMAND} -DGROUP=${group} -DOUT_DIR=${out_dir}
            "-DFILES=${joined}" -P "${_POPQUEUE_EMBED_SCRIPT}"
    DEPENDS ${abs_files} "${_POPQUEUE_EMBED_SCRIPT}"
    COMMENT "Embedding ${group}"
    VERBATIM)
  target_sources(${target} PRIVATE "${out_dir}/${group}.cc")
  target_include_directories(${target} PRIVATE "${CMAKE_CURRENT_BINARY_DIR}")
  # A custom command's rule belongs to the directory that declares it; when
  # <target> lives in another directory, a target here carries the rule and
  # <target> waits for it.
  add_custom_target(popqueue_embed_${group}
    DEPENDS "${out_dir}/${group}.h" "${out_dir}/${group}.cc")
  add_dependencies(${target} popqueue_embed_${group})
endfunction()
