# What `cmake --install` needs to know about the popqueue library's link
# dependencies, worked out from the targets themselves so that a library
# added to popqueue needs no change here:
#
#   popqueue_collect_link_dependencies(popqueue)
#
# walks the link libraries of popqueue (and of the project's own static and
# object libraries it links, recursively) and sets, in the caller's scope:
#   POPQUEUE_INSTALL_TARGETS    the project's libraries to install and export
#                               (popqueue plus any static library it links)
#   POPQUEUE_FIND_DEPENDENCIES  CMake code for popqueueConfig.cmake that finds
#                               every imported dependency (find_dependency or
#                               pkg_check_modules)
#   POPQUEUE_PC_REQUIRES        pkg-config modules for popqueue.pc
#   POPQUEUE_PC_LIBS            extra linker flags for popqueue.pc
#
# Imported targets are mapped as follows; a dependency that matches none of
# these stops the configuration with a message saying what to add to
# _popqueue_pc_entry() below.
#   PkgConfig::X   -> pkg_check_modules(X ... <module of X>), Requires: module
#   absl::X        -> find_dependency(absl), Requires: absl_X
#   NS::target     -> find_dependency(NS), pkg-config from the table below

# Sets `out` to "requires:<module>", "libs:<flags>" or "none" for imported
# target `dep`; "" when unknown.
function(_popqueue_pc_entry dep out)
  set(entry "")
  if(dep MATCHES "^PkgConfig::(.+)$")
    set(prefix "${CMAKE_MATCH_1}")
    if(NOT ${prefix}_MODULE_NAME)
      message(FATAL_ERROR "popqueue packaging: no pkg-config module recorded "
        "for ${dep}; create it with pkg_check_modules(${prefix} REQUIRED "
        "IMPORTED_TARGET <one module>)")
    endif()
    set(entry "requires:${${prefix}_MODULE_NAME}")
  elseif(dep MATCHES "^absl::(.+)$")
    set(entry "requires:absl_${CMAKE_MATCH_1}")
  elseif(dep STREQUAL "nlohmann_json::nlohmann_json")
    set(entry "requires:nlohmann_json")
  elseif(dep STREQUAL "Threads::Threads")
    set(entry "libs:-pthread")
  elseif(dep STREQUAL "date::date-tz")
    set(entry "libs:-ldate-tz")
  elseif(dep STREQUAL "date::date")
    set(entry "none")  # header-only
  elseif(dep STREQUAL "CURL::libcurl")
    set(entry "requires:libcurl")
  elseif(dep STREQUAL "OpenSSL::Crypto")
    set(entry "requires:libcrypto")
  elseif(dep STREQUAL "OpenSSL::SSL")
    set(entry "requires:libssl")
  endif()
  set(${out} "${entry}" PARENT_SCOPE)
endfunction()

function(popqueue_collect_link_dependencies root)
  set(own "")
  set(imported "")
  set(queue "${root}")
  while(queue)
    list(POP_FRONT queue target)
    if(target IN_LIST own)
      continue()
    endif()
    list(APPEND own "${target}")
    get_target_property(direct ${target} LINK_LIBRARIES)
    get_target_property(iface ${target} INTERFACE_LINK_LIBRARIES)
    foreach(item IN LISTS direct iface)
      # "::@(dir)" ... "::@" bracket items linked from another directory.
      if(NOT item OR item MATCHES "-NOTFOUND$" OR item MATCHES "^::@")
        continue()
      endif()
      string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" item "${item}")
      if(item MATCHES "^\\$<")
        message(FATAL_ERROR "popqueue packaging: cannot export the generator "
          "expression ${item} linked by ${target}; link a plain target")
      endif()
      if(TARGET ${item})
        get_target_property(aliased ${item} ALIASED_TARGET)
        if(aliased)
          set(item "${aliased}")
        endif()
        get_target_property(is_imported ${item} IMPORTED)
        if(is_imported)
          list(APPEND imported "${item}")
        else()
          list(APPEND queue "${item}")  # one of ours: install it too
        endif()
      elseif(item MATCHES "^-")
        list(APPEND POPQUEUE_PC_LIBS_LIST "${item}")
      else()
        message(FATAL_ERROR "popqueue packaging: ${target} links \"${item}\", "
          "which is not a target; link an imported target (find_package or "
          "pkg_check_modules(... IMPORTED_TARGET)) so consumers can find it")
      endif()
    endforeach()
  endwhile()
  list(REMOVE_DUPLICATES imported)

  set(find "")
  set(requires "")
  set(libs "${POPQUEUE_PC_LIBS_LIST}")
  set(packages "")
  foreach(dep IN LISTS imported)
    _popqueue_pc_entry(${dep} entry)
    if(entry STREQUAL "")
      message(FATAL_ERROR "popqueue packaging: popqueue links ${dep}; say how "
        "a pkg-config consumer gets it in _popqueue_pc_entry() in "
        "cmake/popqueuePackaging.cmake (one line)")
    elseif(entry MATCHES "^requires:(.*)$")
      list(APPEND requires "${CMAKE_MATCH_1}")
    elseif(entry MATCHES "^libs:(.*)$")
      list(APPEND libs "${CMAKE_MATCH_1}")
    endif()
    if(dep MATCHES "^PkgConfig::(.+)$")
      set(prefix "${CMAKE_MATCH_1}")
      string(APPEND find "pkg_check_modules(${prefix} REQUIRED QUIET "
        "IMPORTED_TARGET ${${prefix}_MODULE_NAME})\n")
    elseif(dep MATCHES "^([^:]+)::")
      list(APPEND packages "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES packages)
  set(find_packages "")
  foreach(p IN LISTS packages)
    string(APPEND find_packages "find_dependency(${p})\n")
  endforeach()
  list(REMOVE_DUPLICATES requires)
  list(REMOVE_DUPLICATES libs)
  list(JOIN requires " " requires)
  list(JOIN libs " " libs)
  set(POPQUEUE_INSTALL_TARGETS "${own}" PARENT_SCOPE)
  set(POPQUEUE_FIND_DEPENDENCIES "${find_packages}${find}" PARENT_SCOPE)
  set(POPQUEUE_PC_REQUIRES "${requires}" PARENT_SCOPE)
  set(POPQUEUE_PC_LIBS "${libs}" PARENT_SCOPE)
endfunction()
