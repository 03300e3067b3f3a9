import CElf

/// The DWARF tags, attributes and operations the call-graph walk reads, named once.
enum DwarfTag {
    static let compileUnit = Int32(DW_TAG_compile_unit)
    static let subprogram = Int32(DW_TAG_subprogram)
    static let inlinedSubroutine = Int32(DW_TAG_inlined_subroutine)
    static let lexicalBlock = Int32(DW_TAG_lexical_block)
    static let callSite = Int32(DW_TAG_call_site)
    static let gnuCallSite = Int32(DW_TAG_GNU_call_site)
    static let callSiteParameter = Int32(DW_TAG_call_site_parameter)
    static let gnuCallSiteParameter = Int32(DW_TAG_GNU_call_site_parameter)
    static let formalParameter = Int32(DW_TAG_formal_parameter)
    static let unspecifiedParameters = Int32(DW_TAG_unspecified_parameters)
    static let member = Int32(DW_TAG_member)
    static let baseType = Int32(DW_TAG_base_type)
    static let enumerationType = Int32(DW_TAG_enumeration_type)
    static let pointerType = Int32(DW_TAG_pointer_type)
    static let constType = Int32(DW_TAG_const_type)
    static let volatileType = Int32(DW_TAG_volatile_type)
    static let restrictType = Int32(DW_TAG_restrict_type)
    static let atomicType = Int32(DW_TAG_atomic_type)
    static let typedef = Int32(DW_TAG_typedef)
    static let structureType = Int32(DW_TAG_structure_type)
    static let unionType = Int32(DW_TAG_union_type)
    static let arrayType = Int32(DW_TAG_array_type)
}

enum DwarfAttribute {
    static let declaration = UInt32(DW_AT_declaration)
    static let external = UInt32(DW_AT_external)
    static let abstractOrigin = UInt32(DW_AT_abstract_origin)
    static let callOrigin = UInt32(DW_AT_call_origin)
    static let callTailCall = UInt32(DW_AT_call_tail_call)
    static let callReturnPC = UInt32(DW_AT_call_return_pc)
    static let gnuTailCall = UInt32(DW_AT_GNU_tail_call)
    static let location = UInt32(DW_AT_location)
    static let callValue = UInt32(DW_AT_call_value)
    static let gnuCallSiteValue = UInt32(DW_AT_GNU_call_site_value)
    static let type = UInt32(DW_AT_type)
}

enum DwarfOperation {
    static let constantAddress: Set<UInt8> = [UInt8(DW_OP_addr), UInt8(DW_OP_constu), UInt8(DW_OP_const8u), UInt8(DW_OP_const4u)]
    /// x86-64 DWARF register 5 is %rdi, the first integer argument.
    static let firstArgumentRegister = UInt8(DW_OP_reg5)
}
