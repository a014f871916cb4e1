"""Path mapping between the submitting machine and the farm."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from void_nuke.pathmap import PathMap, PathMapError, PathRule, load_path_map, path_format
from void_nuke.shot import Shot


def test_windows_drive_maps_to_posix_whatever_the_slashes_or_case() -> None:
    m = PathMap([("Z:\\shows", "/mnt/shows")])
    assert m.map("Z:\\shows\\abc\\sh010.####.exr") == "/mnt/shows/abc/sh010.####.exr"
    assert m.map("z:/Shows/abc/plate.%04d.exr") == "/mnt/shows/abc/plate.%04d.exr"
    assert m.map("Z:\\shows") == "/mnt/shows"


def test_rules_match_whole_components_only() -> None:
    m = PathMap([("/home/art/proj", "/mnt/proj"), ("Z:\\shows", "/mnt/shows")])
    assert m.map("/home/art/project/a.exr") == "/home/art/project/a.exr"
    assert m.map("Z:\\showsX\\a.exr") == "Z:\\showsX\\a.exr"
    assert m.map("/home/art/proj/a/b.exr") == "/mnt/proj/a/b.exr"


def test_posix_rules_are_case_sensitive() -> None:
    m = PathMap([("/Volumes/Shows", "/mnt/shows")])
    assert m.map("/volumes/shows/a") == "/volumes/shows/a"
    assert m.map("/Volumes/Shows/a") == "/mnt/shows/a"


def test_first_matching_rule_wins_in_order() -> None:
    m = PathMap([("/shows", "/a"), ("/shows/abc", "/b")])
    assert m.map("/shows/abc/x") == "/a/abc/x"
    m = PathMap([("/shows/abc", "/b"), ("/shows", "/a")])
    assert m.map("/shows/abc/x") == "/b/x"


def test_unc_share_and_windows_destination() -> None:
    m = PathMap([("\\\\nas\\vfx", "/vfx"), ("/mnt/x", "Y:\\x")])
    assert m.map("\\\\NAS\\vfx\\sh010\\a.exr") == "/vfx/sh010/a.exr"
    assert m.map("/mnt/x/sh010/a.exr") == "Y:\\x\\sh010\\a.exr"


def test_root_destinations_keep_their_separator() -> None:
    assert PathMap([("/srv", "/")]).map("/srv/a/b") == "/a/b"
    assert PathMap([("/srv", "D:\\")]).map("/srv") == "D:\\"
    assert PathMap([("/srv", "D:\\")]).map("/srv/a") == "D:\\a"


def test_strict_mapping_refuses_an_unmapped_windows_path() -> None:
    m = PathMap([("Z:\\shows", "/mnt/shows")])
    with pytest.raises(PathMapError, match="no path-mapping rule covers"):
        m.map("Y:\\other\\a.exr", strict=True)
    assert m.map("/already/posix", strict=True) == "/already/posix"
    assert m.map("ocio://cg-config-v2.2.0", strict=True) == "ocio://cg-config-v2.2.0"


def test_inverse_maps_back() -> None:
    m = PathMap([("Z:\\shows", "/mnt/shows")])
    assert m.inverse().map(m.map("Z:\\shows\\a\\b.exr")) == "Z:\\shows\\a\\b.exr"


def test_invalid_rules_are_named() -> None:
    with pytest.raises(PathMapError, match="must be absolute"):
        PathRule("relative/dir", "/x")
    with pytest.raises(PathMapError, match="POSIX or WINDOWS"):
        PathRule("s3://bucket", "/x", "URI")
    with pytest.raises(PathMapError, match="both"):
        PathRule("", "/x")


def test_path_format_guess() -> None:
    assert path_format("C:\\a") == "WINDOWS"
    assert path_format("c:/a") == "WINDOWS"
    assert path_format("\\\\server\\share") == "WINDOWS"
    assert path_format("/mnt/a") == "POSIX"


def test_openjd_format_round_trip_and_deepest_rule_first(tmp_path: Path) -> None:
    doc = {"version": "pathmapping-1.0", "path_mapping_rules": [
        {"source_path_format": "WINDOWS", "source_path": "Z:\\", "destination_path": "/mnt/z"},
        {"source_path_format": "WINDOWS", "source_path": "Z:\\shows\\abc", "destination_path": "/abc"},
    ]}
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(doc))
    m = load_path_map(str(path))
    assert m.map("Z:\\shows\\abc\\x.exr") == "/abc/x.exr"  # OpenJD applies the deeper source first
    assert m.map("Z:\\other\\x.exr") == "/mnt/z/other/x.exr"
    saved = tmp_path / "saved.json"
    m.save_openjd(str(saved))
    assert PathMap.from_openjd(json.loads(saved.read_text())) == m


def test_openjd_sessions_reads_our_rules(tmp_path: Path) -> None:
    """The file we write is one OpenJD's own parser accepts, with the same meaning."""
    sessions = pytest.importorskip("openjd.sessions")
    m = PathMap([("Z:\\shows", "/mnt/shows"), ("/home/art", "/mnt/home")])
    rules = [sessions.PathMappingRule.from_dict(r) for r in m.to_openjd()["path_mapping_rules"]]
    from pathlib import PureWindowsPath
    applied, mapped = rules[0].apply(path=str(PureWindowsPath("Z:/shows/abc/a.exr")))
    assert applied and str(mapped) == m.map("Z:\\shows\\abc\\a.exr")


def test_toml_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("[[rules]]\nsource = 'Z:\\shows'\ndestination = \"/mnt/shows\"\n")
    assert load_path_map(str(path)).map("Z:\\shows\\a") == "/mnt/shows/a"
    path.write_text("[[rules]]\nsource = 'Z:\\shows'\n")
    with pytest.raises(PathMapError, match="rules.toml: rules\\[0\\] needs source and destination"):
        load_path_map(str(path))
    with pytest.raises(PathMapError, match="does not exist"):
        load_path_map(str(tmp_path / "missing.toml"))
    assert not load_path_map(None)


def test_rejects_unknown_openjd_version() -> None:
    with pytest.raises(PathMapError, match="pathmapping-1.0"):
        PathMap.from_dict({"version": "pathmapping-9", "path_mapping_rules": []})


def test_shot_paths_go_through_the_map() -> None:
    shot = Shot.from_dict({"plate": "Z:\\shows\\sh010\\plate.####.exr", "frames": "1-4",
                           "remove": "Z:\\shows\\sh010\\remove.####.exr", "output": "Z:\\shows\\sh010\\out"})
    mapped = shot.with_paths(PathMap([("Z:\\shows", "/mnt/shows")]).map)
    assert mapped.plate == "/mnt/shows/sh010/plate.####.exr"
    assert mapped.remove[0].pattern == "/mnt/shows/sh010/remove.####.exr"
    assert mapped.output.directory == "/mnt/shows/sh010/out"
