//! GraphQL enums that mirror stored ones (entity enums carry no GraphQL derive), with the
//! conversions both ways.

/// `mirror_enum!(Name <=> Stored { A, B })`: a GraphQL enum `Name` with `From` both ways.
macro_rules! mirror_enum {
    ($(#[$meta:meta])* $name:ident <=> $stored:ident { $($variant:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
        pub enum $name { $($variant),* }
        impl From<$stored> for $name {
            fn from(s: $stored) -> Self { match s { $($stored::$variant => $name::$variant),* } }
        }
        impl From<$name> for $stored {
            fn from(s: $name) -> Self { match s { $($name::$variant => $stored::$variant),* } }
        }
    };
}
pub(crate) use mirror_enum;
