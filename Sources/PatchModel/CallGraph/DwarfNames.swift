import CElf

/// The DWARF tags, attributes and operations the call-graph walk reads, named once.
package enum DwarfTag {
    package static let compileUnit = Int32(DW_TAG_compile_unit)
    package static let subprogram = Int32(DW_TAG_subprogram)
    package static let inlinedSubroutine = Int32(DW_TAG_inlined_subroutine)
    package static let lexicalBlock = Int32(DW_TAG_lexical_block)
    package static let callSite = Int32(DW_TAG_call_site)
    package static let gnuCallSite = Int32(DW_TAG_GNU_call_site)
    package static let callSiteParameter = Int32(DW_TAG_call_site_parameter)
    package static let gnuCallSiteParameter = Int32(DW_TAG_GNU_call_site_parameter)
    package static let formalParameter = Int32(DW_TAG_formal_parameter)
    package static let unspecifiedParameters = Int32(DW_TAG_unspecified_parameters)
    package static let member = Int32(DW_TAG_member)
    package static let baseType = Int32(DW_TAG_base_type)
    package static let enumerationType = Int32(DW_TAG_enumeration_type)
    package static let pointerType = Int32(DW_TAG_pointer_type)
    package static let constType = Int32(DW_TAG_const_type)
    package static let volatileType = Int32(DW_TAG_volatile_type)
    package static let restrictType = Int32(DW_TAG_restrict_type)
    package static let atomicType = Int32(DW_TAG_atomic_type)
    package static let typedef = Int32(DW_TAG_typedef)
    package static let structureType = Int32(DW_TAG_structure_type)
    package static let unionType = Int32(DW_TAG_union_type)
    package static let arrayType = Int32(DW_TAG_array_type)
    package static let subroutineType = Int32(DW_TAG_subroutine_type)
}

package enum DwarfAttribute {
    package static let declaration = UInt32(DW_AT_declaration)
    package static let external = UInt32(DW_AT_external)
    package static let abstractOrigin = UInt32(DW_AT_abstract_origin)
    package static let callOrigin = UInt32(DW_AT_call_origin)
    package static let callTailCall = UInt32(DW_AT_call_tail_call)
    package static let callReturnPC = UInt32(DW_AT_call_return_pc)
    package static let gnuTailCall = UInt32(DW_AT_GNU_tail_call)
    package static let location = UInt32(DW_AT_location)
    package static let callValue = UInt32(DW_AT_call_value)
    package static let gnuCallSiteValue = UInt32(DW_AT_GNU_call_site_value)
    package static let type = UInt32(DW_AT_type)
    package static let byteSize = UInt32(DW_AT_byte_size)
    package static let frameBase = UInt32(DW_AT_frame_base)
    package static let encoding = UInt32(DW_AT_encoding)
}

package enum DwarfOperation {
    package static let constantAddress: Set<UInt8> = [UInt8(DW_OP_addr), UInt8(DW_OP_constu), UInt8(DW_OP_const8u), UInt8(DW_OP_const4u)]
    /// x86-64 DWARF register 5 is %rdi, the first integer argument.
    package static let firstArgumentRegister = UInt8(DW_OP_reg5)
}
