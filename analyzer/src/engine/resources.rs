//! Interned identities of shared and process state, so rules can keep
//! per-table state in plain vectors instead of hashing strings per record.

use std::cell::RefCell;
use std::sync::Arc;

use crate::input::record::{FastMap, FileIdx};

pub type SchemaId = u32;
pub type TableId = u32;
pub type ProcResId = u32;
/// An interned list of tables ([`Resources::tables_of`]).
pub type TableSetId = u32;

/// What an access touches, with schema tracking already applied. Plain
/// ids: copied per access without touching shared memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// Tables of one schema; an empty list means every table of it.
    Tables { schema: SchemaId, set: TableSetId },
    /// In-memory state of one process (`jwt_secret`, `config`).
    Process(ProcResId),
}

struct SchemaEntry {
    db: Arc<str>,
    name: Arc<str>,
    tables: Vec<TableId>,
    /// The first process that accessed it, and whether another one did too.
    first: Option<FileIdx>,
    shared: bool,
}

/// The registry of every schema, table and process resource seen.
#[derive(Default)]
pub struct Resources {
    schemas: Vec<SchemaEntry>,
    schema_ids: FastMap<Arc<str>, FastMap<Arc<str>, SchemaId>>,
    tables: Vec<(SchemaId, Arc<str>)>,
    table_ids: Vec<FastMap<Arc<str>, TableId>>,
    procs: Vec<(FileIdx, Arc<str>)>,
    proc_ids: FastMap<(FileIdx, Arc<str>), ProcResId>,
    sets: Vec<Box<[TableId]>>,
    set_ids: FastMap<Box<[TableId]>, TableSetId>,
    /// Labels made so far: each new finding asks for its resource's, and a
    /// fully shared run makes hundreds of thousands of them (a label never
    /// changes: its schema, tables and process state are interned).
    labels: RefCell<FastMap<Target, Arc<str>>>,
}

impl Resources {
    pub fn schema(&mut self, db: &str, name: &str) -> SchemaId {
        if let Some(id) = self.schema_ids.get(db).and_then(|m| m.get(name)) {
            return *id;
        }
        let id = self.schemas.len() as SchemaId;
        let (db, name): (Arc<str>, Arc<str>) = (db.into(), name.into());
        self.schemas.push(SchemaEntry {
            db: db.clone(),
            name: name.clone(),
            tables: Vec::new(),
            first: None,
            shared: false,
        });
        self.table_ids.push(FastMap::default());
        self.schema_ids.entry(db).or_default().insert(name, id);
        id
    }

    pub fn table(&mut self, schema: SchemaId, name: &str) -> TableId {
        if let Some(id) = self.table_ids[schema as usize].get(name) {
            return *id;
        }
        let id = self.tables.len() as TableId;
        let name: Arc<str> = name.into();
        self.tables.push((schema, name.clone()));
        self.table_ids[schema as usize].insert(name, id);
        self.schemas[schema as usize].tables.push(id);
        id
    }

    pub fn process(&mut self, file: FileIdx, name: &str) -> ProcResId {
        let key = (file, Arc::<str>::from(name));
        if let Some(id) = self.proc_ids.get(&key) {
            return *id;
        }
        let id = self.procs.len() as ProcResId;
        self.procs.push(key.clone());
        self.proc_ids.insert(key, id);
        id
    }

    /// The id of a list of tables (equal lists, equal ids).
    pub fn table_set(&mut self, tables: &[TableId]) -> TableSetId {
        if let Some(id) = self.set_ids.get(tables) {
            return *id;
        }
        let id = self.sets.len() as TableSetId;
        self.sets.push(tables.into());
        self.set_ids.insert(tables.into(), id);
        id
    }

    /// The tables of a [`Resources::table_set`].
    pub fn tables_of(&self, set: TableSetId) -> &[TableId] {
        &self.sets[set as usize]
    }

    /// The schema a table belongs to.
    pub fn schema_of_table(&self, table: TableId) -> Option<SchemaId> {
        self.tables.get(table as usize).map(|&(schema, _)| schema)
    }

    /// Every table of a schema seen so far.
    pub fn schema_tables(&self, schema: SchemaId) -> &[TableId] {
        &self.schemas[schema as usize].tables
    }

    pub fn table_count(&self) -> usize {
        self.tables.len()
    }

    pub fn schema_count(&self) -> usize {
        self.schemas.len()
    }

    pub fn proc_count(&self) -> usize {
        self.procs.len()
    }

    /// The schema's database identity is unknown (no `db` in the records).
    pub fn db_unknown(&self, schema: SchemaId) -> bool {
        self.schemas[schema as usize].db.is_empty()
    }

    /// Whether the schema's database runs one write at a time (SQLite): a
    /// write that ended later took effect later. Otherwise (PostgreSQL,
    /// MySQL, unknown) a statement works on what was committed when it
    /// began.
    pub fn serialized_writes(&self, schema: SchemaId) -> bool {
        self.schemas[schema as usize].db.starts_with("sqlite")
    }

    /// [`Resources::schema_name`], shared.
    pub fn schema_name_shared(&self, schema: SchemaId) -> Arc<str> {
        self.schemas[schema as usize].name.clone()
    }

    pub fn schema_name(&self, schema: SchemaId) -> &str {
        &self.schemas[schema as usize].name
    }

    pub fn process_file(&self, id: ProcResId) -> FileIdx {
        self.procs[id as usize].0
    }

    /// `shared:db/schema/table`, `shared:db/schema/*`, `process:jwt_secret`,
    /// in the same shape as `Resource`'s Display.
    pub fn label(&self, target: &Target) -> String {
        if let Some(label) = self.labels.borrow().get(target) {
            return label.to_string();
        }
        let label = match target {
            Target::Process(id) => format!("process:{}", self.procs[*id as usize].1),
            Target::Tables { schema, set } => self.tables_label(*schema, self.tables_of(*set)),
        };
        self.labels
            .borrow_mut()
            .insert(*target, label.as_str().into());
        label
    }

    /// [`Resources::label`] of tables of a schema (none: all of them).
    pub fn tables_label(&self, schema: SchemaId, tables: &[TableId]) -> String {
        let s = &self.schemas[schema as usize];
        let db = if s.db.is_empty() { "?" } else { &s.db };
        let schema = if s.name.is_empty() {
            "(default)"
        } else {
            &s.name
        };
        let names: Vec<&str> = tables
            .iter()
            .map(|t| &*self.tables[*t as usize].1)
            .collect();
        match names.as_slice() {
            [] => format!("shared:{db}/{schema}/*"),
            [one] => format!("shared:{db}/{schema}/{one}"),
            many => format!("shared:{db}/{schema}/{{{}}}", many.join(",")),
        }
    }

    /// Process `file` accessed tables of `schema`.
    pub fn touch(&mut self, schema: SchemaId, file: FileIdx) {
        let s = &mut self.schemas[schema as usize];
        match s.first {
            None => s.first = Some(file),
            Some(f) if f != file => s.shared = true,
            Some(_) => {}
        }
    }

    /// Whether more than one process accessed tables of `schema` so far.
    pub fn shared(&self, schema: SchemaId) -> bool {
        self.schemas[schema as usize].shared
    }

    /// The bare name of a table.
    pub fn table_name(&self, table: TableId) -> &str {
        &self.tables[table as usize].1
    }

    /// The schema a table belongs to.
    pub fn table_schema(&self, table: TableId) -> SchemaId {
        self.tables[table as usize].0
    }

    /// Label of one table.
    pub fn table_label(&self, table: TableId) -> String {
        let (schema, _) = self.tables[table as usize];
        self.tables_label(schema, &[table])
    }
}
