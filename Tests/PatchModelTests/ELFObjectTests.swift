import Foundation
import XCTest
@testable import PatchModel
import TestSupport

/// The demo module compiled once per test process with the target's Kbuild.
enum VictimBuild {
    static let dir: Result<URL, Error> = Result {
        try KbuildModule().build("elf-kpvictim", sources: TestBed.shared.root.appendingPathComponent("examples/kpvictim"),
                                 extraCflags: "-ffunction-sections -fdata-sections")
    }
    static func object() throws -> URL { try dir.get().appendingPathComponent("kpvictim.o") }
    static func module() throws -> URL { try dir.get().appendingPathComponent("kpvictim.ko") }
}

final class ELFObjectTests: XCTestCase {
    func testReadsSectionsSymbolsAndRelocationsOfACompiledObject() throws {
        let object = try ELFObject(url: try VictimBuild.object())
        XCTAssertEqual(object.fileType, .relocatable)
        let text = try XCTUnwrap(object.section(named: ".text.kpvictim_tick_once"))
        XCTAssertTrue(text.isExecutable && text.isAllocated)
        XCTAssertEqual(try object.data(of: text).count, Int(text.size))

        let symbols = try object.symbols()
        let tick = try XCTUnwrap(symbols.first { $0.name == "kpvictim_tick_once" })
        XCTAssertEqual(tick.type, .function)
        XCTAssertEqual(Int(tick.sectionIndex), text.index)
        XCTAssertGreaterThan(tick.size, 0)
        XCTAssertTrue(symbols.contains { $0.isFile && $0.name == "kpvictim.c" })

        // -pg -mfentry: every traced function starts with a call to __fentry__.
        let rela = try XCTUnwrap(object.relocationSection(for: text))
        XCTAssertEqual(rela.name, ".rela.text.kpvictim_tick_once")
        let relocations = try object.relocations(in: rela)
        let first = try XCTUnwrap(relocations.min { $0.offset < $1.offset })
        XCTAssertEqual(symbols[first.symbolIndex].name, "__fentry__")
        XCTAssertEqual(first.offset, 1)
        XCTAssertEqual(first.type, .plt32)
    }

    func testSectionLookupOnALinkedModule() throws {
        let module = try ELFObject(url: try VictimBuild.module())
        XCTAssertNotNil(module.section(named: ".gnu.linkonce.this_module"))
        let modinfo = try module.data(of: try module.requireSection(named: ".modinfo"))
        XCTAssertTrue(String(decoding: modinfo, as: UTF8.self).contains("name=kpvictim"))
        XCTAssertThrowsError(try module.requireSection(named: ".no.such.section")) { error in
            XCTAssertEqual(error as? ELFError, .missingSection(file: module.path, name: ".no.such.section"))
        }
    }

    func testOpenErrorsAreTypedAndNameTheFile() throws {
        XCTAssertThrowsError(try ELFObject(path: "/nonexistent/x.o")) { error in
            guard case .cannotOpen(let file, _)? = error as? ELFError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "/nonexistent/x.o")
        }
        let text = try TestBed.shared.scratch("elf-text").appendingPathComponent("notelf.o")
        try "not an object\n".write(to: text, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ELFObject(url: text)) { error in
            XCTAssertEqual(error as? ELFError, .notELF(file: text.path))
        }
        XCTAssertThrowsError(try ELFObject(url: try VictimBuild.object(), allowedTypes: [.shared])) { error in
            guard case .unsupported? = error as? ELFError else { return XCTFail("\(error)") }
        }
    }

    func testRewritingAModuleKeepsEverySectionAndSymbol() throws {
        let original = try ELFObject(url: try VictimBuild.module())
        let copy = try TestBed.shared.scratch("elf-rewrite").appendingPathComponent("copy.ko")
        try ELFWriter.write(try ELFImage(object: original), to: copy.path)

        let rewritten = try ELFObject(url: copy)
        XCTAssertEqual(rewritten.sections.map(\.name), original.sections.map(\.name))
        for (a, b) in zip(original.sections, rewritten.sections) where a.type != .strtab {
            XCTAssertEqual(a.type, b.type, a.name)
            XCTAssertEqual(a.flags, b.flags, a.name)
            XCTAssertEqual(a.link, b.link, a.name)
            XCTAssertEqual(a.info, b.info, a.name)
            XCTAssertEqual(try original.data(of: a), try rewritten.data(of: b), a.name)
        }
        let names = { (o: ELFObject) in try o.symbols().map { "\($0.name)/\($0.sectionIndex)/\($0.value)" } }
        XCTAssertEqual(try names(rewritten), try names(original))
        for rela in original.sections where rela.type == .rela {
            XCTAssertEqual(try rewritten.relocations(in: rewritten.sections[rela.index]), try original.relocations(in: rela))
        }
    }

    func testWritesANewRelocatableObjectThatBinutilsReads() throws {
        var image = ELFImage()
        let strtab = image.append(.init(name: ".strtab", type: .strtab, content: .strings))
        let text = image.append(.init(name: ".text.f", type: .progbits, flags: [.alloc, .execInstr], alignment: 16,
                                      content: .bytes([0xe8, 0, 0, 0, 0, 0xc3])))
        let symtab = image.append(.init(name: ".symtab", type: .symtab, link: UInt32(strtab), alignment: 8, content: .symbols([
            ELFSymbol(index: 0, name: "", value: 0, size: 0, type: .notype, binding: .local, sectionIndex: 0),
            ELFSymbol(index: 1, name: "f", value: 0, size: 6, type: .function, binding: .global, sectionIndex: UInt16(text)),
            ELFSymbol(index: 2, name: "g", value: 0, size: 0, type: .notype, binding: .global, sectionIndex: 0),
        ])))
        image.append(.init(name: ".rela.text.f", type: .rela, flags: .infoLink, link: UInt32(symtab), info: UInt32(text),
                           alignment: 8, content: .relocations([ELFRelocation(offset: 1, type: .plt32, symbolIndex: 2, addend: -4)])))
        let out = try TestBed.shared.scratch("elf-new").appendingPathComponent("new.o")
        try ELFWriter.write(image, to: out.path)

        let readelf = try runChecked(["readelf", "-W", "-s", "-r", out.path])
        XCTAssertTrue(readelf.contains("R_X86_64_PLT32"), readelf)
        XCTAssertTrue(readelf.contains("FUNC    GLOBAL DEFAULT    \(text) f"), readelf)
        let object = try ELFObject(url: out)
        let rela = try XCTUnwrap(object.relocationSection(for: try object.requireSection(named: ".text.f")))
        XCTAssertEqual(try object.relocations(in: rela), [ELFRelocation(offset: 1, type: .plt32, symbolIndex: 2, addend: -4)])
        XCTAssertEqual(try object.data(of: object.sections[text]), [0xe8, 0, 0, 0, 0, 0xc3])
    }

    func testWriterRefusesDanglingIndices() throws {
        var image = ELFImage()
        let strtab = image.append(.init(name: ".strtab", type: .strtab, content: .strings))
        image.append(.init(name: ".symtab", type: .symtab, link: UInt32(strtab), content: .symbols([
            ELFSymbol(index: 0, name: "", value: 0, size: 0, type: .notype, binding: .local, sectionIndex: 0),
            ELFSymbol(index: 1, name: "x", value: 0, size: 0, type: .object, binding: .global, sectionIndex: 77),
        ])))
        XCTAssertThrowsError(try ELFWriter.write(image, to: "/tmp/never-written.o")) { error in
            guard case .cannotWrite? = error as? ELFError else { return XCTFail("\(error)") }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/never-written.o"))
    }
}
